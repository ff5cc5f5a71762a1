// Importing a key value into a token as a secret key object that cannot be read back:
// CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_ENCRYPT and CKA_DECRYPT
// (what DESFire authentication and AN10922 need), labelled `label` (the URI's object=).
//
//   DESFIRED_RETURN_IF_ERROR(ImportSecretKey(*token, "transit-debit", KeyType::kAes128, value));
//
// Types: AES128 → CKK_AES; 2TDEA → CKK_DES2; 3TDEA → CKK_DES3; DES → CKK_DES2 holding K ‖ K
// (single DES is missing from some tokens; the key file keeps the type DES). Errors name the
// label and the PKCS#11 code, never the value: FAILED_PRECONDITION (also when an object with
// this label exists already).
//
// Thread-safe.
#ifndef DESFIRED_CORE_PKCS11_IMPORT_H_
#define DESFIRED_CORE_PKCS11_IMPORT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/crypto/key_type.h"
#include "core/keys/key_store.h"
#include "core/pkcs11/token.h"
#include "core/util/bytes.h"

namespace desfired::pkcs11 {

absl::Status ImportSecretKey(Token& token, absl::string_view label, crypto::KeyType type,
                             ByteSpan value);

// The result of ImportKeyFile: the rewritten key file and the names of the keys that moved.
// `text` still holds the values of the file keys that did not move: it is wiped on
// destruction.
struct ImportedKeyFile {
  std::string text;
  std::vector<std::string> moved;  // in the order of the file

  ImportedKeyFile() = default;
  ImportedKeyFile(ImportedKeyFile&&) = default;
  ImportedKeyFile& operator=(ImportedKeyFile&&) = default;
  ~ImportedKeyFile();
};

// Moves file keys of the key file `text` into `token` (each labelled with its key name) and
// returns the text with each moved key's hex value replaced by `token_uri` ";object=<name>"
// (token_uri: "pkcs11:token=<label>", which names `token`). `names`: the keys to move; empty:
// every file key. Other lines (comments, options, tap rules) are kept as they are. With
// `settings`, the result's one `pkcs11` line says them: the file's line is replaced where it
// stands, or the line is put first when the file has none (a file never gets a second one).
// The first error stops the import (keys imported before it stay in the token); errors name
// the key. `source` names the text in messages. The caller wipes `text`; the result holds no
// value of a moved key.
absl::StatusOr<ImportedKeyFile> ImportKeyFile(absl::string_view text, absl::string_view source,
                                              Token& token, absl::string_view token_uri,
                                              const std::vector<std::string>& names,
                                              const keys::TokenSettings* settings = nullptr);

// The `pkcs11` line of a key file that says `settings` (no trailing newline).
std::string TokenSettingsLine(const keys::TokenSettings& settings);

}  // namespace desfired::pkcs11

#endif  // DESFIRED_CORE_PKCS11_IMPORT_H_
