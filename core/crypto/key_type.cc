#include "core/crypto/key_type.h"

#include "absl/strings/match.h"

namespace desfired::crypto {

size_t KeyLength(KeyType type) {
  switch (type) {
    case KeyType::kDes:
      return 8;
    case KeyType::k2Tdea:
      return 16;
    case KeyType::k3Tdea:
      return 24;
    case KeyType::kAes128:
      return 16;
  }
  return 0;  // not reached for valid enumerators
}

size_t BlockSize(KeyType type) { return type == KeyType::kAes128 ? 16 : 8; }

absl::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kDes:
      return "DES";
    case KeyType::k2Tdea:
      return "2TDEA";
    case KeyType::k3Tdea:
      return "3TDEA";
    case KeyType::kAes128:
      return "AES128";
  }
  return "UNKNOWN";
}

std::optional<KeyType> ParseKeyType(absl::string_view name) {
  struct Alias {
    absl::string_view name;
    KeyType type;
  };
  static constexpr Alias kAliases[] = {
      {"DES", KeyType::kDes},     {"2TDEA", KeyType::k2Tdea},   {"2K3DES", KeyType::k2Tdea},
      {"TDES2", KeyType::k2Tdea}, {"3TDEA", KeyType::k3Tdea},   {"3K3DES", KeyType::k3Tdea},
      {"TDES3", KeyType::k3Tdea}, {"AES128", KeyType::kAes128}, {"AES", KeyType::kAes128},
  };
  for (const Alias& alias : kAliases) {
    if (absl::EqualsIgnoreCase(name, alias.name)) return alias.type;
  }
  return std::nullopt;
}

}  // namespace desfired::crypto
