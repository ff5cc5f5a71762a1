// The GetVersion bytes the emulated card presents for each product it can pose as
// (desfire-sim --product NAME). Only the hardware and software parts change; the UID, batch and
// production date stay the image's.
//
// Values from the NXP data sheets' GetVersion tables (MF3D(H)x1 EV1, MF3D(H)x2 EV2, MF3D(H)x3
// EV3, MF2DLHX0 DESFire Light, NT4H2421Gx NTAG 424 DNA) as proxmark3's hf mfdes info /
// hf ntag424 info decode them. The storage byte is 2^(n>>1) bytes (odd n: more than that):
// 0x1A = 8 KB, 0x1E = 32 KB (EV2 XL), 0x13 = Light (more than 512 B), 0x11 = NTAG 424 DNA.
//
// Thread-safe: constant data.
#ifndef DESFIRED_SIM_CARD_PRODUCTS_H_
#define DESFIRED_SIM_CARD_PRODUCTS_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "sim/card/model.h"

namespace desfired::sim {

// `version` with the hardware and software parts of product `name` (ev1, ev2, ev2xl, ev3,
// light, ntag424); nullopt for another name.
std::optional<VersionInfo> PoseAs(absl::string_view name, VersionInfo version);

// The accepted names, for usage texts: "ev1|ev2|...".
std::string ProductNames();

}  // namespace desfired::sim

#endif  // DESFIRED_SIM_CARD_PRODUCTS_H_
