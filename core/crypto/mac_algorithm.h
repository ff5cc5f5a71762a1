// MacAlgorithm: the MAC algorithms a tap record can carry (numbered as
// desfired.v1.TapMacAlgorithm), with their names as the key file and the API write them. The
// key store (core/keys) names one per tap rule; the tap parser (core/tap) verifies with it.
//
//   std::optional<MacAlgorithm> mac = ParseMacAlgorithm("AES128_CMAC_EV2");
//   MacAlgorithmName(MacAlgorithm::kTdesCmac)   // "TDES_CMAC"
//
// Thread-safe: an enum and pure functions.
#ifndef DESFIRED_CORE_CRYPTO_MAC_ALGORITHM_H_
#define DESFIRED_CORE_CRYPTO_MAC_ALGORITHM_H_

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace desfired::crypto {

enum class MacAlgorithm : uint8_t {
  kNone = 0,
  kAes128Cmac = 1,     // AES-128 CMAC, bytes 0..7
  kAes128CmacEv2 = 2,  // AES-128 CMAC, bytes 1,3,..,15 (DESFire EV2 truncation)
  kTdesCmac = 3,       // 2TDEA / 3TDEA CMAC, 8 bytes
};

inline absl::string_view MacAlgorithmName(MacAlgorithm a) {
  switch (a) {
    case MacAlgorithm::kAes128Cmac:
      return "AES128_CMAC";
    case MacAlgorithm::kAes128CmacEv2:
      return "AES128_CMAC_EV2";
    case MacAlgorithm::kTdesCmac:
      return "TDES_CMAC";
    case MacAlgorithm::kNone:
      break;
  }
  return "NONE";
}

inline std::optional<MacAlgorithm> ParseMacAlgorithm(absl::string_view name) {
  if (name == "AES128_CMAC") return MacAlgorithm::kAes128Cmac;
  if (name == "AES128_CMAC_EV2") return MacAlgorithm::kAes128CmacEv2;
  if (name == "TDES_CMAC") return MacAlgorithm::kTdesCmac;
  return std::nullopt;
}

}  // namespace desfired::crypto

#endif  // DESFIRED_CORE_CRYPTO_MAC_ALGORITHM_H_
