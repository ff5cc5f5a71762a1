// The product behind a GetVersion answer: which NXP IC (DESFire EV1 … EV3, EV2 XL, DESFire
// Light, NTAG 424 DNA) sent it, from the hardware part's type, major and minor version.
//
//   desfire::CardProduct p = desfire::IdentifyProduct(version.hardware);
//   std::cout << desfire::CardProductName(p);  // "DESFire EV3"
//
// The table follows the public sources that decode the same bytes:
//   - proxmark3 client/src/cmdhfmfdes.c getCardType() (type, major, minor) and
//     client/src/cmdhfntag424.c (NTAG 424 DNA: type 04, major 30);
//   - NXP data sheets, GetVersion chapter: MF3D(H)x3 (EV3: 04 01 01 33 00 ..), MF3D(H)x2
//     (EV2: 04 01 01 12 00 ..), MF2DLHX0 (DESFire Light: 04 08 01 30 00 13 05), NT4H2421Gx
//     (NTAG 424 DNA: 04 04 02 30 00 11 05); AN12343 p.7 (hardware type 01 DESFire, 08 Light,
//     81/83 DESFire on a microcontroller).
// Only NXP's vendor id (04) is recognised; anything else is kUnknown (the raw bytes stay in
// CardVersion for the caller).
//
// Thread-safe: pure functions over constant tables.
#ifndef DESFIRED_CORE_DESFIRE_PRODUCT_H_
#define DESFIRED_CORE_DESFIRE_PRODUCT_H_

#include "absl/strings/string_view.h"

namespace desfired::desfire {

struct VersionPart;

// Keep the order: the names in product.cc and desfired.v1.CardProduct follow it.
enum class CardProduct {
  kUnknown,
  kDesfireEv0,  // MF3ICD40
  kDesfireEv1,
  kDesfireEv2,
  kDesfireEv2Xl,
  kDesfireEv3,
  kDesfireLight,
  kNtag424Dna,
};

CardProduct IdentifyProduct(const VersionPart& hardware);

// "DESFire EV1", "DESFire EV2 XL", "NTAG 424 DNA", … ; "unknown" for kUnknown.
absl::string_view CardProductName(CardProduct product);

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_PRODUCT_H_
