#include "core/keys/key_store.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/crypto/an10922.h"
#include "core/crypto/random.h"
#include "core/util/numbers.h"
#include "core/util/private_file.h"
#include "core/util/status_macros.h"

namespace desfired::keys {
namespace {

constexpr size_t kMaxKeyFileSize = 1 << 20;

// A DESFire UID (7 bytes) starts every diversification input: UID ‖ AID ‖ system id for card
// keys, UID ‖ system id for a tap card rule (as core/tap's MacVerifier builds it). AN10922
// takes at most 31 input bytes.
constexpr size_t kDiversifyUidLength = 7;
constexpr size_t kDiversifyPrefix = kDiversifyUidLength + 3;  // UID ‖ AID
constexpr size_t kMaxSystemIdLength = 31 - kDiversifyUidLength;

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxKeyNameLength) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

absl::Status LineError(absl::string_view where, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
}

// Splits "k=v" options; returns false for a token without '='.
bool SplitOption(absl::string_view token, absl::string_view* k, absl::string_view* v) {
  const size_t eq = token.find('=');
  if (eq == absl::string_view::npos) return false;
  *k = token.substr(0, eq);
  *v = token.substr(eq + 1);
  return true;
}

std::unique_ptr<Key> NewKey(std::string name, crypto::KeyType type, uint8_t version,
                            std::optional<Diversification> diversify, KeyGrant grant) {
  auto key = std::make_unique<Key>();
  key->name = std::move(name);
  key->type = type;
  key->version = version;
  key->diversify = std::move(diversify);
  key->grant = std::move(grant);
  return key;
}

}  // namespace

crypto::MacAlgorithm DefaultMacFor(crypto::KeyType type) {
  switch (type) {
    case crypto::KeyType::kAes128:
      return crypto::MacAlgorithm::kAes128Cmac;
    case crypto::KeyType::k2Tdea:
    case crypto::KeyType::k3Tdea:
      return crypto::MacAlgorithm::kTdesCmac;
    case crypto::KeyType::kDes:
      break;
  }
  return crypto::MacAlgorithm::kNone;
}

absl::Status CheckMacSuitsKey(crypto::MacAlgorithm mac, crypto::KeyType type) {
  const bool aes = type == crypto::KeyType::kAes128;
  const bool tdea = type == crypto::KeyType::k2Tdea || type == crypto::KeyType::k3Tdea;
  switch (mac) {
    case crypto::MacAlgorithm::kAes128Cmac:
    case crypto::MacAlgorithm::kAes128CmacEv2:
      if (aes) return absl::OkStatus();
      break;
    case crypto::MacAlgorithm::kTdesCmac:
      if (tdea) return absl::OkStatus();
      break;
    case crypto::MacAlgorithm::kNone:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat("MAC algorithm ", crypto::MacAlgorithmName(mac),
                                                 " cannot be used with a ",
                                                 crypto::KeyTypeName(type), " key"));
}

absl::StatusOr<KeyStore> KeyStore::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> text =
      ReadSmallFile(path, {.what = "key file", .max_bytes = kMaxKeyFileSize});
  if (!text.ok()) return text.status();
  absl::StatusOr<KeyStore> store = Parse(*text, path);
  crypto::SecureWipe(MutableByteSpan(reinterpret_cast<uint8_t*>(text->data()), text->size()));
  return store;
}

absl::StatusOr<KeyStore> KeyStore::Parse(absl::string_view text, absl::string_view source) {
  KeyStore store;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    const size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    DESFIRED_RETURN_IF_ERROR(store.ParseLine(line, absl::StrCat(source, ":", line_no)));
  }
  return store;
}

absl::Status KeyStore::ParseLine(absl::string_view line, absl::string_view where) {
  std::vector<absl::string_view> tokens =
      absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (tokens[0] == "tap") return ParseTapRule(tokens, where);
  if (tokens[0] == "pkcs11") return ParseTokenSettings(tokens, where);
  if (tokens[0] != "key") {
    return LineError(where, absl::StrCat("unknown directive '", tokens[0],
                                         "' (expected 'key', 'tap' or 'pkcs11')"));
  }
  if (tokens.size() < 4) {
    return LineError(where, "expected: key <name> <type> <hex value or pkcs11: URI> [version=<n>]");
  }
  const absl::string_view name = tokens[1];
  const std::optional<crypto::KeyType> type = crypto::ParseKeyType(tokens[2]);
  if (!type) {
    return LineError(where, absl::StrCat("key '", name, "': unknown type '", tokens[2],
                                         "' (DES, 2TDEA, 3TDEA or AES128)"));
  }
  const bool in_token = absl::StartsWith(tokens[3], "pkcs11:");
  if (in_token && absl::StrContains(tokens[3], "pin-value")) {
    return LineError(where, absl::StrCat("key '", name,
                                         "': a PIN in the URI (pin-value=) is not accepted; use "
                                         "pin-file= or pin-env= on the pkcs11 line"));
  }
  absl::StatusOr<Bytes> value = in_token ? Bytes() : HexDecode(tokens[3]);
  if (!value.ok()) {
    return LineError(
        where, absl::StrCat("key '", name, "': value is not hex (", value.status().message(), ")"));
  }
  uint8_t version = 0;
  std::optional<Diversification> diversify;
  std::optional<Bytes> system_id;
  KeyGrant grant;
  for (size_t i = 4; i < tokens.size(); ++i) {
    absl::string_view k, v;
    uint32_t n = 0;
    std::string problem;
    if (!SplitOption(tokens[i], &k, &v)) {
      problem = "is not name=value";
    } else if (ParseGrantOption(k, v, &grant, &problem)) {
      // roles=, use=, methods= (key_grant.h)
    } else if (k == "version") {
      if (!absl::SimpleAtoi(v, &n) || n > 255) problem = "must be 0..255";
      version = static_cast<uint8_t>(n);
    } else if (k == "diversify") {
      if (v != "an10922") problem = "must be an10922";
      diversify.emplace();
    } else if (k == "system") {
      absl::StatusOr<Bytes> id = HexDecode(v);
      if (!id.ok()) {
        problem = "is not hex";
      } else {
        system_id = *std::move(id);
      }
    } else {
      problem =
          "is an unknown option (expected version=, diversify=an10922, system=, roles=, use=, "
          "methods=)";
    }
    if (!problem.empty()) {
      crypto::SecureWipe(MutableByteSpan(*value));
      return LineError(where, absl::StrCat("key '", name, "': option '", tokens[i], "' ", problem));
    }
  }
  if (system_id.has_value()) {
    if (!diversify.has_value()) {
      crypto::SecureWipe(MutableByteSpan(*value));
      return LineError(where, absl::StrCat("key '", name, "': system= needs diversify=an10922"));
    }
    diversify->system_id = *std::move(system_id);
  }
  absl::Status status = in_token ? AddTokenKey(std::string(name), *type, std::string(tokens[3]),
                                               version, std::move(diversify), std::move(grant))
                                 : AddKey(std::string(name), *type, std::move(*value), version,
                                          std::move(diversify), std::move(grant));
  if (!status.ok()) return LineError(where, status.message());
  return absl::OkStatus();
}

absl::Status KeyStore::ParseTapRule(const std::vector<absl::string_view>& tokens,
                                    absl::string_view where) {
  if (tokens.size() < 2) return LineError(where, "expected: tap static|terminal|card ...");
  TapRule rule;
  size_t first_option = 2;
  if (tokens[1] == "static") {
    rule.kind = TapRule::Kind::kStatic;
  } else if (tokens[1] == "card") {
    rule.kind = TapRule::Kind::kCard;
  } else if (tokens[1] == "terminal") {
    rule.kind = TapRule::Kind::kTerminal;
    if (tokens.size() < 3) return LineError(where, "expected: tap terminal <id> key=<name>");
    absl::StatusOr<uint32_t> id = ParseIdNumber(tokens[2], 0xFFFFFF);
    if (!id.ok()) return LineError(where, absl::StrCat("terminal id ", id.status().message()));
    rule.terminal_id = *id;
    first_option = 3;
  } else {
    return LineError(where, absl::StrCat("unknown tap rule '", tokens[1],
                                         "' (expected static, terminal or card)"));
  }
  bool has_system = false;
  for (size_t i = first_option; i < tokens.size(); ++i) {
    absl::string_view k, v;
    if (!SplitOption(tokens[i], &k, &v)) {
      return LineError(where, absl::StrCat("expected name=value, got '", tokens[i], "'"));
    }
    if (k == "key") {
      rule.key = Find(v);
      if (rule.key == nullptr) {
        return LineError(where, absl::StrCat("no key named '", v, "' (define it above)"));
      }
    } else if (k == "mac") {
      std::optional<crypto::MacAlgorithm> mac = crypto::ParseMacAlgorithm(v);
      if (!mac) {
        return LineError(where, absl::StrCat("unknown MAC algorithm '", v,
                                             "' (AES128_CMAC, AES128_CMAC_EV2 or TDES_CMAC)"));
      }
      rule.mac = *mac;
    } else if (k == "system" && rule.kind == TapRule::Kind::kCard) {
      absl::StatusOr<Bytes> sys = HexDecode(v);
      if (!sys.ok()) {
        return LineError(where,
                         absl::StrCat("system id is not hex (", sys.status().message(), ")"));
      }
      if (sys->size() > kMaxSystemIdLength) {
        return LineError(where, absl::StrCat("system id is ", sys->size(), " bytes; at most ",
                                             kMaxSystemIdLength));
      }
      rule.system_id = std::move(*sys);
      has_system = true;
    } else {
      return LineError(where, absl::StrCat("unknown option '", k, "'"));
    }
  }
  if (rule.key == nullptr) return LineError(where, "missing key=<name>");
  if (rule.kind == TapRule::Kind::kCard) {
    if (!has_system) return LineError(where, "missing system=<hex> for a card rule");
    if (rule.key->type == crypto::KeyType::kDes) {
      return LineError(where, "AN10922 diversification needs an AES128, 2TDEA or 3TDEA key");
    }
  }
  if (rule.mac == crypto::MacAlgorithm::kNone) rule.mac = DefaultMacFor(rule.key->type);
  if (absl::Status s = CheckMacSuitsKey(rule.mac, rule.key->type); !s.ok()) {
    return LineError(where, absl::StrCat("key '", rule.key->name, "': ", s.message()));
  }
  switch (rule.kind) {
    case TapRule::Kind::kStatic:
      if (static_rule_) return LineError(where, "a second 'tap static' rule");
      static_rule_ = std::move(rule);
      break;
    case TapRule::Kind::kCard:
      if (card_rule_) return LineError(where, "a second 'tap card' rule");
      card_rule_ = std::move(rule);
      break;
    case TapRule::Kind::kTerminal:
      for (const TapRule& r : terminal_rules_) {
        if (r.terminal_id == rule.terminal_id) {
          return LineError(where,
                           absl::StrCat("terminal ", rule.terminal_id, " already has a tap rule"));
        }
      }
      terminal_rules_.push_back(std::move(rule));
      break;
  }
  return absl::OkStatus();
}

absl::Status KeyStore::AddKey(std::string name, crypto::KeyType type, Bytes value, uint8_t version,
                              std::optional<Diversification> diversify, KeyGrant grant) {
  SecretBytes secret(std::move(value));  // wiped on every return path
  DESFIRED_RETURN_IF_ERROR(CheckNewName(name));
  if (secret.size() != crypto::KeyLength(type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("key '", name, "': a ", crypto::KeyTypeName(type), " key has ",
                     crypto::KeyLength(type), " bytes, this one has ", secret.size()));
  }
  std::unique_ptr<Key> key =
      NewKey(std::move(name), type, version, std::move(diversify), std::move(grant));
  key->value = std::move(secret);
  return Insert(std::move(key));
}

absl::Status KeyStore::AddTokenKey(std::string name, crypto::KeyType type, std::string uri,
                                   uint8_t version, std::optional<Diversification> diversify,
                                   KeyGrant grant) {
  std::unique_ptr<Key> key =
      NewKey(std::move(name), type, version, std::move(diversify), std::move(grant));
  key->token_uri = std::move(uri);
  return Insert(std::move(key));
}

absl::Status KeyStore::CheckNewName(absl::string_view name) const {
  if (!ValidName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key name '", name, "' is not valid (1..64 of letters, digits, '_', '-', '.')"));
  }
  if (Find(name) != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("key '", name, "' is defined twice"));
  }
  return absl::OkStatus();
}

absl::Status KeyStore::Insert(std::unique_ptr<Key> key) {
  DESFIRED_RETURN_IF_ERROR(CheckNewName(key->name));
  if (key->diversify.has_value()) {
    if (key->type == crypto::KeyType::kDes) {
      return absl::InvalidArgumentError(
          absl::StrCat("key '", key->name, "': AN10922 defines no single-DES diversification"));
    }
    const size_t max_system =
        (key->type == crypto::KeyType::kAes128 ? 31u : 15u) - kDiversifyPrefix;
    if (key->diversify->system_id.size() > max_system) {
      return absl::InvalidArgumentError(absl::StrCat("key '", key->name, "': system id of ",
                                                     key->diversify->system_id.size(),
                                                     " bytes; at most ", max_system));
    }
  }
  keys_.push_back(std::move(key));
  return absl::OkStatus();
}

absl::Status KeyStore::ParseTokenSettings(const std::vector<absl::string_view>& tokens,
                                          absl::string_view where) {
  if (has_token_settings_) return LineError(where, "a second 'pkcs11' line");
  TokenSettings settings;
  for (size_t i = 1; i < tokens.size(); ++i) {
    absl::string_view k, v;
    if (!SplitOption(tokens[i], &k, &v) || v.empty()) {
      return LineError(where, absl::StrCat("pkcs11: expected name=value, got '", tokens[i], "'"));
    }
    if (k == "module") {
      settings.module = std::string(v);
    } else if (k == "pin-file") {
      settings.pin_file = std::string(v);
    } else if (k == "pin-env") {
      settings.pin_env = std::string(v);
    } else {
      return LineError(where, absl::StrCat("pkcs11: unknown option '", k,
                                           "' (expected module=, pin-file= or pin-env=; a PIN "
                                           "itself is never accepted here)"));
    }
  }
  if (!settings.pin_file.empty() && !settings.pin_env.empty()) {
    return LineError(where, "pkcs11: give pin-file= or pin-env=, not both");
  }
  token_settings_ = std::move(settings);
  has_token_settings_ = true;
  return absl::OkStatus();
}

absl::Status KeyStore::BindTokenKeys(const TokenBinder& bind) {
  for (const std::unique_ptr<Key>& key : keys_) {
    if (!key->in_token()) continue;
    absl::StatusOr<std::shared_ptr<const crypto::KeyCipher>> cipher = bind(*key);
    if (!cipher.ok()) return cipher.status();
    key->cipher = *std::move(cipher);
  }
  return absl::OkStatus();
}

bool KeyStore::has_token_keys() const {
  for (const std::unique_ptr<Key>& key : keys_) {
    if (key->in_token()) return true;
  }
  return false;
}

absl::StatusOr<SecretBytes> CardKeyFor(const Key& key, ByteSpan uid, uint32_t aid) {
  if (key.in_token() && (!key.diversify.has_value() || key.cipher == nullptr)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key '", key.name, "' is in a PKCS#11 token",
        key.cipher == nullptr ? " and is not bound to it" : "; its value never leaves it"));
  }
  if (!key.diversify.has_value()) return key.value.Clone();
  if (uid.size() != kDiversifyUidLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key '", key.name, "' is diversified per card and needs the card's 7-byte UID"));
  }
  Bytes input(uid.begin(), uid.end());
  input.push_back(static_cast<uint8_t>(aid));
  input.push_back(static_cast<uint8_t>(aid >> 8));
  input.push_back(static_cast<uint8_t>(aid >> 16));
  input.insert(input.end(), key.diversify->system_id.begin(), key.diversify->system_id.end());
  absl::StatusOr<Bytes> derived = Bytes(crypto::KeyLength(key.type));
  if (key.in_token()) {
    absl::Status s = crypto::DiversifyKeyVia(*key.cipher, key.type, input, derived->data());
    if (!s.ok()) {
      crypto::SecureWipe(absl::MakeSpan(*derived));  // the parts derived before the failure
      derived = s;
    }
  } else {
    derived = crypto::DiversifyKey(key.type, key.value.view(), input);
  }
  if (!derived.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("key '", key.name, "': cannot diversify (", derived.status().message(), ")"));
  }
  return SecretBytes(*std::move(derived));
}

absl::Status KeyStore::SetStaticTapRule(absl::string_view key_name, crypto::MacAlgorithm mac) {
  const Key* key = Find(key_name);
  if (key == nullptr) return absl::InvalidArgumentError(absl::StrCat("no key '", key_name, "'"));
  if (mac == crypto::MacAlgorithm::kNone) mac = DefaultMacFor(key->type);
  DESFIRED_RETURN_IF_ERROR(CheckMacSuitsKey(mac, key->type));
  TapRule rule;
  rule.kind = TapRule::Kind::kStatic;
  rule.key = key;
  rule.mac = mac;
  static_rule_ = std::move(rule);
  return absl::OkStatus();
}

const Key* KeyStore::Find(absl::string_view name) const {
  for (const auto& k : keys_) {
    if (k->name == name) return k.get();
  }
  return nullptr;
}

}  // namespace desfired::keys
