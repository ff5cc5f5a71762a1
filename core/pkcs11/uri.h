// TokenUri: an RFC 7512 PKCS#11 URI naming a secret key object in a token, parsed by p11-kit
// (p11_kit_uri_parse), not by hand.
//
//   pkcs11:token=desfired;object=transit-debit
//   pkcs11:token=desfired;id=%01%02?module-path=/usr/lib/softhsm/libsofthsm2.so
//   pkcs11:token=desfired;object=master?pin-source=file:/etc/desfired/token.pin
//
// The path part selects the token (token=, serial=, manufacturer=, model=) and the object
// (object=, id=, type=secret-key); the query may give module-path= and pin-source=. A PIN in
// the URI (pin-value=) is refused: a PIN comes from a file or the environment only.
//
// Errors: INVALID_ARGUMENT, with p11-kit's reason, for a malformed URI, one that names no object
// (object= or id=), a type= other than secret-key, a pin-value= or unknown query attributes.
// Messages quote the URI (it holds no secret once pin-value= is refused).
//
// Thread-compatible; a parsed TokenUri is read-only and may be shared.
#ifndef DESFIRED_CORE_PKCS11_URI_H_
#define DESFIRED_CORE_PKCS11_URI_H_

#include <p11-kit/pkcs11.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct p11_kit_uri;

namespace desfired::pkcs11 {

class TokenUri {
 public:
  static absl::StatusOr<TokenUri> Parse(absl::string_view text);
  // A URI that names a token only ("pkcs11:token=desfired": where keys are imported to).
  static absl::StatusOr<TokenUri> ParseToken(absl::string_view text);

  const std::string& text() const { return text_; }
  // The URI with the token attributes only ("pkcs11:token=desfired"): which token it means.
  const std::string& token_part() const { return token_part_; }
  const std::string& module_path() const { return module_path_; }  // empty: none given
  const std::string& pin_source() const { return pin_source_; }    // empty: none given

  // True when `info` is a token this URI selects (every token attribute it gives matches).
  bool MatchesToken(const CK_TOKEN_INFO& info) const;
  // The search template for C_FindObjectsInit: the URI's object attributes and
  // CKA_CLASS = CKO_SECRET_KEY. Points into this TokenUri (keep it alive while used).
  std::vector<CK_ATTRIBUTE> ObjectTemplate() const;

 private:
  static absl::StatusOr<TokenUri> ParseAny(absl::string_view text, bool needs_object);
  struct UriDeleter {
    void operator()(p11_kit_uri* uri) const;
  };
  std::string text_;
  std::string token_part_;
  std::string module_path_;
  std::string pin_source_;
  std::shared_ptr<p11_kit_uri> uri_;
};

}  // namespace desfired::pkcs11

#endif  // DESFIRED_CORE_PKCS11_URI_H_
