#include "core/desfire/product.h"

#include <cstdint>
#include <iterator>

#include "core/desfire/card_types.h"

namespace desfired::desfire {
namespace {

constexpr uint8_t kVendorNxp = 0x04;
// Hardware types (AN12343 p.7; proxmark3 cmdhfmfdes.c getProductType).
enum HardwareType : uint8_t { kDesfire = 0x01, kNtag = 0x04, kLight = 0x08, kOnMcu = 0x81 };

struct ProductRow {
  uint8_t type;
  uint8_t major;
  int minor;  // -1: any minor version
  CardProduct product;
};

// proxmark3 client/src/cmdhfmfdes.c getCardType(); NXP data sheets (see product.h).
constexpr ProductRow kProducts[] = {
    {kDesfire, 0x00, -1, CardProduct::kDesfireEv0},
    {kDesfire, 0x01, 0x00, CardProduct::kDesfireEv1},
    {kDesfire, 0x12, 0x00, CardProduct::kDesfireEv2},
    {kDesfire, 0x22, 0x00, CardProduct::kDesfireEv2Xl},
    {kDesfire, 0x33, 0x00, CardProduct::kDesfireEv3},
    {kOnMcu, 0x42, 0x00, CardProduct::kDesfireEv2},
    {kOnMcu, 0x43, 0x01, CardProduct::kDesfireEv3},
    {kLight, 0x30, 0x00, CardProduct::kDesfireLight},
    {kNtag, 0x30, 0x00, CardProduct::kNtag424Dna},
};

}  // namespace

CardProduct IdentifyProduct(const VersionPart& hardware) {
  if (hardware.vendor_id != kVendorNxp) return CardProduct::kUnknown;
  for (const ProductRow& row : kProducts) {
    if (row.type == hardware.type && row.major == hardware.major_version &&
        (row.minor < 0 || row.minor == hardware.minor_version)) {
      return row.product;
    }
  }
  return CardProduct::kUnknown;
}

absl::string_view CardProductName(CardProduct product) {
  // In the order of CardProduct.
  constexpr absl::string_view kNames[] = {
      "unknown",     "DESFire EV0 (MF3ICD40)", "DESFire EV1", "DESFire EV2", "DESFire EV2 XL",
      "DESFire EV3", "DESFire Light",          "NTAG 424 DNA"};
  const size_t i = static_cast<size_t>(product);
  return i < std::size(kNames) ? kNames[i] : kNames[0];
}

}  // namespace desfired::desfire
