// KeyStore: named keys and the rules that say which key verifies a tap record.
//
// The file format is documented in docs/key-store.md. In short:
//
//   # name        type    value (hex)                        options
//   key transit   AES128  2b7e151628aed2a6abf7158809cf4f3c   version=1
//   key master    AES128  00112233445566778899aabbccddeeff
//   key cards     AES128  00112233445566778899aabbccddeeff   diversify=an10922 system=4e5850
//   key reader    AES128  a0a1a2a3a4a5a6a7a8a9aaabacadaeaf   roles=viewer,operator use=read
//   tap terminal 0x001234 key=transit mac=AES128_CMAC_EV2
//   tap card     key=master system=4e585020416275
//   tap static   key=transit
//
// Errors name the source and line, never a key's value.
//
// Thread-compatible: a loaded store is read-only and may be shared between threads.
#ifndef DESFIRED_CORE_KEYS_KEY_STORE_H_
#define DESFIRED_CORE_KEYS_KEY_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/crypto/key_cipher.h"
#include "core/crypto/key_type.h"
#include "core/crypto/mac_algorithm.h"
#include "core/keys/key_grant.h"
#include "core/keys/secret.h"
#include "core/util/bytes.h"

namespace desfired::keys {

// How a card key is derived from a stored master key: NXP AN10922, with the input
// M = UID (7 bytes) ‖ AID (3 bytes, least significant first; 000000 at the PICC level)
// ‖ system identifier. (AN10922's AES example uses exactly this layout.)
struct Diversification {
  Bytes system_id;  // 0..21 bytes (M is at most 31 bytes; 15 for 2TDEA/3TDEA)
};

struct Key {
  std::string name;
  crypto::KeyType type = crypto::KeyType::kAes128;
  SecretBytes value;
  uint8_t version = 0;
  std::optional<Diversification> diversify;  // nullopt: the value is the card key itself
  KeyGrant grant;  // who may have it presented to a card, and as what (key_grant.h)
  // A key in a PKCS#11 token: `value` is empty and `token_uri` (RFC 7512, "pkcs11:...") names
  // the object. `cipher` runs the key's operations in the token once the store's token keys
  // are bound (core/pkcs11/bind.h); null before that, and for file keys.
  std::string token_uri;
  std::shared_ptr<const crypto::KeyCipher> cipher;
  bool in_token() const { return !token_uri.empty(); }
};

// How token keys are reached: the `pkcs11` line of the key file (docs/key-store.md, "Token
// keys"). A token key's URI may override the module (module-path=) and the PIN source
// (pin-source=file:...).
struct TokenSettings {
  std::string module;    // path of the PKCS#11 module (shared library)
  std::string pin_file;  // a file holding the user PIN (mode 600)
  std::string pin_env;   // or the name of an environment variable holding it
};

// The key to present to a card: `key`'s value, or its AN10922 diversification for the card
// `uid` (7 bytes) and application `aid`. INVALID_ARGUMENT when a diversified key is used
// without a 7-byte UID or the input is too long for the key type; never names the value.
// A token key: its diversification is computed by the token (CMAC in the token) and the
// per-card key returned; a token key that is not diversified has no value to give:
// FAILED_PRECONDITION naming the key (use its `cipher`).
absl::StatusOr<SecretBytes> CardKeyFor(const Key& key, ByteSpan uid, uint32_t aid);

// Which key verifies a tap record.
struct TapRule {
  enum class Kind { kTerminal, kCard, kStatic };
  Kind kind = Kind::kStatic;
  const Key* key = nullptr;  // points into the owning KeyStore
  crypto::MacAlgorithm mac = crypto::MacAlgorithm::kNone;
  uint32_t terminal_id = 0;  // kTerminal
  Bytes system_id;           // kCard: appended to the 7 UID bytes as AN10922 input
};

// The longest key name (1..64 of letters, digits, '_', '-', '.').
inline constexpr size_t kMaxKeyNameLength = 64;

class KeyStore {
 public:
  KeyStore() = default;
  KeyStore(KeyStore&&) = default;
  KeyStore& operator=(KeyStore&&) = default;

  // Reads and parses a key file. FAILED_PRECONDITION when the file is readable or writable
  // by group or others; NOT_FOUND / PERMISSION_DENIED when it cannot be opened;
  // INVALID_ARGUMENT naming the line for any content error.
  static absl::StatusOr<KeyStore> LoadFile(const std::string& path);

  // Parses key-file text; `source` names it in errors ("keys.conf:3: ...").
  static absl::StatusOr<KeyStore> Parse(absl::string_view text, absl::string_view source);

  // Adds a key. INVALID_ARGUMENT for a bad name, a duplicate name or a value of the wrong
  // length for its type.
  absl::Status AddKey(std::string name, crypto::KeyType type, Bytes value, uint8_t version = 0,
                      std::optional<Diversification> diversify = std::nullopt, KeyGrant grant = {});

  // Adds a key that lives in a PKCS#11 token, named by `uri` ("pkcs11:..."); errors as AddKey.
  absl::Status AddTokenKey(std::string name, crypto::KeyType type, std::string uri,
                           uint8_t version = 0,
                           std::optional<Diversification> diversify = std::nullopt,
                           KeyGrant grant = {});

  // Binds every token key: `bind` returns the cipher that runs the key in its token (or an
  // error naming the key). Stops at the first error.
  using TokenBinder =
      std::function<absl::StatusOr<std::shared_ptr<const crypto::KeyCipher>>(const Key&)>;
  absl::Status BindTokenKeys(const TokenBinder& bind);
  bool has_token_keys() const;
  const TokenSettings& token_settings() const { return token_settings_; }
  // True when the file has a `pkcs11` line (whatever it gives: module=, pin-file=, pin-env=).
  bool has_token_settings() const { return has_token_settings_; }

  // Sets the static tap rule (replacing any) to the named key. INVALID_ARGUMENT when the
  // key is missing or `mac` does not suit its type; kNone picks the type's default.
  absl::Status SetStaticTapRule(absl::string_view key_name, crypto::MacAlgorithm mac);

  // nullptr when there is no such key.
  const Key* Find(absl::string_view name) const;
  const std::vector<std::unique_ptr<Key>>& keys() const { return keys_; }

  const std::vector<TapRule>& terminal_rules() const { return terminal_rules_; }
  const std::optional<TapRule>& card_rule() const { return card_rule_; }
  const std::optional<TapRule>& static_rule() const { return static_rule_; }
  bool has_tap_rules() const {
    return !terminal_rules_.empty() || card_rule_.has_value() || static_rule_.has_value();
  }

 private:
  absl::Status ParseLine(absl::string_view line, absl::string_view where);
  absl::Status ParseTapRule(const std::vector<absl::string_view>& tokens, absl::string_view where);
  absl::Status ParseTokenSettings(const std::vector<absl::string_view>& tokens,
                                  absl::string_view where);
  absl::Status CheckNewName(absl::string_view name) const;
  absl::Status Insert(std::unique_ptr<Key> key);

  std::vector<std::unique_ptr<Key>> keys_;  // unique_ptr: rules keep stable pointers
  std::vector<TapRule> terminal_rules_;
  std::optional<TapRule> card_rule_;
  std::optional<TapRule> static_rule_;
  TokenSettings token_settings_;
  bool has_token_settings_ = false;
};

// The MAC algorithm a key type gets when a rule names none: AES128_CMAC for AES-128,
// TDES_CMAC for 2TDEA/3TDEA; kNone for single DES (not allowed for tap MACs).
crypto::MacAlgorithm DefaultMacFor(crypto::KeyType type);

// OK when `mac` can be computed with a key of `type`.
absl::Status CheckMacSuitsKey(crypto::MacAlgorithm mac, crypto::KeyType type);

}  // namespace desfired::keys

#endif  // DESFIRED_CORE_KEYS_KEY_STORE_H_
