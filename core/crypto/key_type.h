// Key types used by DESFire cards and by the tap-record MACs.
#ifndef DESFIRED_CORE_CRYPTO_KEY_TYPE_H_
#define DESFIRED_CORE_CRYPTO_KEY_TYPE_H_

#include <cstddef>
#include <optional>

#include "absl/strings/string_view.h"

namespace desfired::crypto {

enum class KeyType {
  kDes,     // single DES, 8 bytes (run as 3DES with K1 = K2 = K3)
  k2Tdea,   // two-key triple DES, 16 bytes (K3 = K1)
  k3Tdea,   // three-key triple DES, 24 bytes
  kAes128,  // AES-128, 16 bytes
};

// Key length in bytes: 8, 16, 24 or 16.
size_t KeyLength(KeyType type);
// Cipher block size in bytes: 8 for the DES family, 16 for AES.
size_t BlockSize(KeyType type);
// "DES", "2TDEA", "3TDEA", "AES128".
absl::string_view KeyTypeName(KeyType type);
// Parses the names above (case-insensitive; also "2K3DES", "3K3DES", "AES", "TDES2", "TDES3").
std::optional<KeyType> ParseKeyType(absl::string_view name);

}  // namespace desfired::crypto

#endif  // DESFIRED_CORE_CRYPTO_KEY_TYPE_H_
