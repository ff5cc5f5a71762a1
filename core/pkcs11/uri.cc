#include "core/pkcs11/uri.h"

#include <p11-kit/uri.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace desfired::pkcs11 {
namespace {

CK_OBJECT_CLASS kSecretKeyClass = CKO_SECRET_KEY;

absl::Status UriError(absl::string_view text, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("PKCS#11 URI '", text, "': ", problem));
}

}  // namespace

void TokenUri::UriDeleter::operator()(p11_kit_uri* uri) const { p11_kit_uri_free(uri); }

absl::StatusOr<TokenUri> TokenUri::Parse(absl::string_view text) {
  return ParseAny(text, /*needs_object=*/true);
}

absl::StatusOr<TokenUri> TokenUri::ParseToken(absl::string_view text) {
  return ParseAny(text, /*needs_object=*/false);
}

absl::StatusOr<TokenUri> TokenUri::ParseAny(absl::string_view text, bool needs_object) {
  if (absl::StrContains(text, "pin-value")) {
    // Refused before parsing, and without quoting the URI: it holds a PIN.
    return absl::InvalidArgumentError(
        "a PKCS#11 URI with pin-value= is not accepted: give the PIN in a file (pin-source=, or "
        "pin-file= on the pkcs11 line) or an environment variable (pin-env=)");
  }
  TokenUri out;
  out.text_ = std::string(text);
  out.uri_ = std::shared_ptr<p11_kit_uri>(p11_kit_uri_new(), UriDeleter());
  if (out.uri_ == nullptr) return absl::ResourceExhaustedError("p11_kit_uri_new failed");
  P11KitUri* uri = out.uri_.get();
  const int rc = p11_kit_uri_parse(out.text_.c_str(), P11_KIT_URI_FOR_OBJECT_ON_TOKEN, uri);
  if (rc != P11_KIT_URI_OK) return UriError(text, p11_kit_uri_message(rc));
  if (p11_kit_uri_any_unrecognized(uri)) {
    return UriError(text, "has attributes p11-kit does not know (a typo?)");
  }
  if (p11_kit_uri_get_pin_value(uri) != nullptr) return UriError(text, "pin-value= is refused");
  if (needs_object && p11_kit_uri_get_attribute(uri, CKA_LABEL) == nullptr &&
      p11_kit_uri_get_attribute(uri, CKA_ID) == nullptr) {
    return UriError(text, "names no object: add object=<label> or id=<%-encoded id>");
  }
  if (CK_ATTRIBUTE* cls = p11_kit_uri_get_attribute(uri, CKA_CLASS); cls != nullptr) {
    if (cls->ulValueLen != sizeof(CK_OBJECT_CLASS) ||
        *static_cast<CK_OBJECT_CLASS*>(cls->pValue) != CKO_SECRET_KEY) {
      return UriError(text, "type= must be secret-key (a DESFire key is a secret key)");
    }
  }
  if (const char* path = p11_kit_uri_get_module_path(uri); path != nullptr) {
    out.module_path_ = path;
  }
  if (const char* source = p11_kit_uri_get_pin_source(uri); source != nullptr) {
    out.pin_source_ = source;
  }
  char* token = nullptr;
  if (p11_kit_uri_format(uri, P11_KIT_URI_FOR_TOKEN, &token) == P11_KIT_URI_OK &&
      token != nullptr) {
    out.token_part_ = token;
    std::free(token);
  }
  return out;
}

bool TokenUri::MatchesToken(const CK_TOKEN_INFO& info) const {
  return p11_kit_uri_match_token_info(uri_.get(), &info) == 1;
}

std::vector<CK_ATTRIBUTE> TokenUri::ObjectTemplate() const {
  std::vector<CK_ATTRIBUTE> out;
  for (CK_ATTRIBUTE_TYPE type : {CKA_LABEL, CKA_ID}) {
    if (CK_ATTRIBUTE* a = p11_kit_uri_get_attribute(uri_.get(), type); a != nullptr) {
      out.push_back(*a);
    }
  }
  out.push_back({CKA_CLASS, &kSecretKeyClass, sizeof(kSecretKeyClass)});
  return out;
}

}  // namespace desfired::pkcs11
