#include "core/pkcs11/bind.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/crypto/random.h"
#include "core/pkcs11/token_key.h"
#include "core/util/private_file.h"

namespace desfired::pkcs11 {
namespace {

constexpr size_t kMaxPinFile = 4096;

}  // namespace

absl::StatusOr<keys::SecretBytes> ReadPin(absl::string_view source) {
  if (absl::ConsumePrefix(&source, "env:")) {
    const std::string name(source);
    const char* value = std::getenv(name.c_str());
    if (value == nullptr || *value == '\0') {
      return absl::FailedPreconditionError(
          absl::StrCat("the PIN variable ", name, " is not set (or empty)"));
    }
    return keys::SecretBytes(Bytes(value, value + std::strlen(value)));
  }
  absl::ConsumePrefix(&source, "file:");
  absl::StatusOr<std::string> text = ReadSmallFile(
      std::string(source), {.what = "PIN file", .max_bytes = kMaxPinFile, .private_only = true});
  if (!text.ok()) return absl::FailedPreconditionError(text.status().message());
  size_t n = text->size();
  if (n > 0 && (*text)[n - 1] == '\n') --n;
  if (n > 0 && (*text)[n - 1] == '\r') --n;
  keys::SecretBytes pin(Bytes(text->begin(), text->begin() + n));
  crypto::SecureWipe(MutableByteSpan(reinterpret_cast<uint8_t*>(text->data()), text->size()));
  if (pin.size() == 0) {
    return absl::FailedPreconditionError(absl::StrCat("the PIN file ", source, " is empty"));
  }
  return pin;
}

absl::StatusOr<TokenPlace> PlaceOf(const keys::TokenSettings& settings, const TokenUri& uri) {
  TokenPlace place;
  place.module_path = !uri.module_path().empty() ? uri.module_path() : settings.module;
  if (place.module_path.empty()) {
    return absl::InvalidArgumentError(
        "no PKCS#11 module: add 'pkcs11 module=PATH' to the key file or module-path= to the URI");
  }
  place.pin_source = uri.pin_source();
  if (place.pin_source.empty() && !settings.pin_file.empty()) {
    place.pin_source = "file:" + settings.pin_file;
  }
  if (place.pin_source.empty() && !settings.pin_env.empty()) {
    place.pin_source = "env:" + settings.pin_env;
  }
  if (place.pin_source.empty()) {
    return absl::FailedPreconditionError(
        "no PIN: add pin-file= or pin-env= to the key file's pkcs11 line (or pin-source= to the "
        "URI)");
  }
  place.cache_key = absl::StrCat(place.module_path, "\n", uri.token_part(), "\n", place.pin_source);
  return place;
}

absl::StatusOr<std::shared_ptr<Token>> TokenKeyBinder::TokenFor(const TokenPlace& place,
                                                                const TokenUri& uri) {
  if (auto it = tokens_.find(place.cache_key); it != tokens_.end()) return it->second;
  absl::StatusOr<std::shared_ptr<Module>> module = Module::Load(place.module_path);
  if (!module.ok()) return module.status();
  absl::StatusOr<keys::SecretBytes> pin = ReadPin(place.pin_source);
  if (!pin.ok()) return pin.status();
  absl::StatusOr<std::shared_ptr<Token>> token =
      Token::Open(*std::move(module), uri, *std::move(pin));
  if (!token.ok()) return token.status();
  tokens_[place.cache_key] = *token;
  return token;
}

absl::Status TokenKeyBinder::Bind(keys::KeyStore& store) {
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::shared_ptr<Token>> before = tokens_;
  tokens_.clear();
  const keys::TokenSettings& settings = store.token_settings();
  absl::Status status = store.BindTokenKeys(
      [&](const keys::Key& key) -> absl::StatusOr<std::shared_ptr<const crypto::KeyCipher>> {
        auto fail = [&](const absl::Status& s) {
          return absl::Status(
              s.code(), absl::StrCat("key '", key.name, "' (", key.token_uri, "): ", s.message()));
        };
        absl::StatusOr<TokenUri> uri = TokenUri::Parse(key.token_uri);
        if (!uri.ok()) return fail(uri.status());
        absl::StatusOr<TokenPlace> place = PlaceOf(settings, *uri);
        if (!place.ok()) return fail(place.status());
        // A token the previous store used stays logged in when this one names it again.
        if (auto it = before.find(place->cache_key); it != before.end()) {
          tokens_.emplace(place->cache_key, it->second);
        }
        absl::StatusOr<std::shared_ptr<Token>> token = TokenFor(*place, *uri);
        if (!token.ok()) return fail(token.status());
        absl::StatusOr<std::shared_ptr<const TokenKey>> found =
            TokenKey::Find(*std::move(token), *uri, key.type, key.name);
        if (!found.ok()) return found.status();
        return std::shared_ptr<const crypto::KeyCipher>(*std::move(found));
      });
  if (!status.ok()) tokens_ = std::move(before);  // a refused reload keeps what was in use
  return status;
}

}  // namespace desfired::pkcs11
