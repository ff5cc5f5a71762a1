#include "core/pkcs11/import.h"

#include <algorithm>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/crypto/random.h"
#include "core/keys/key_store.h"
#include "core/util/status_macros.h"

namespace desfired::pkcs11 {

absl::Status ImportSecretKey(Token& token, absl::string_view label, crypto::KeyType type,
                             ByteSpan value) {
  if (value.size() != crypto::KeyLength(type)) {
    return absl::InvalidArgumentError(absl::StrCat("key '", label, "': a ",
                                                   crypto::KeyTypeName(type), " key has ",
                                                   crypto::KeyLength(type), " bytes"));
  }
  Bytes material(value.begin(), value.end());
  CK_KEY_TYPE key_type = CKK_AES;
  switch (type) {
    case crypto::KeyType::kAes128:
      break;
    case crypto::KeyType::kDes:
      material.insert(material.end(), value.begin(), value.end());
      key_type = CKK_DES2;
      break;
    case crypto::KeyType::k2Tdea:
      key_type = CKK_DES2;
      break;
    case crypto::KeyType::k3Tdea:
      key_type = CKK_DES3;
      break;
  }
  std::string name(label);
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ATTRIBUTE templ[] = {
      {CKA_CLASS, &cls, sizeof(cls)},        {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
      {CKA_TOKEN, &yes, sizeof(yes)},        {CKA_PRIVATE, &yes, sizeof(yes)},
      {CKA_SENSITIVE, &yes, sizeof(yes)},    {CKA_EXTRACTABLE, &no, sizeof(no)},
      {CKA_ENCRYPT, &yes, sizeof(yes)},      {CKA_DECRYPT, &yes, sizeof(yes)},
      {CKA_LABEL, name.data(), name.size()}, {CKA_VALUE, material.data(), material.size()},
  };
  CK_FUNCTION_LIST* f = token.module().f();
  CK_OBJECT_CLASS find_cls = CKO_SECRET_KEY;
  CK_ATTRIBUTE find[] = {{CKA_CLASS, &find_cls, sizeof(find_cls)},
                         {CKA_LABEL, name.data(), name.size()}};
  bool exists = false;
  absl::StatusOr<CK_RV> rv = token.RunWritable([&](CK_SESSION_HANDLE s, uint64_t) {
    CK_RV r = f->C_FindObjectsInit(s, find, 2);
    if (r != CKR_OK) return r;
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    r = f->C_FindObjects(s, &h, 1, &n);
    f->C_FindObjectsFinal(s);
    if (r != CKR_OK) return r;
    if (n > 0) {
      exists = true;
      return CKR_OK;
    }
    CK_OBJECT_HANDLE created = CK_INVALID_HANDLE;
    return f->C_CreateObject(s, templ, sizeof(templ) / sizeof(templ[0]), &created);
  });
  crypto::SecureWipe(absl::MakeSpan(material));
  if (!rv.ok()) return rv.status();
  if (*rv != CKR_OK) return CkError(absl::StrCat("importing key '", label, "'"), *rv);
  if (exists) {
    return absl::FailedPreconditionError(
        absl::StrCat("token ", token.name(), " already has a key labelled '", label, "'"));
  }
  return absl::OkStatus();
}

ImportedKeyFile::~ImportedKeyFile() {
  crypto::SecureWipe(MutableByteSpan(reinterpret_cast<uint8_t*>(text.data()), text.size()));
}

std::string TokenSettingsLine(const keys::TokenSettings& settings) {
  std::string line = "pkcs11";
  if (!settings.module.empty()) absl::StrAppend(&line, " module=", settings.module);
  if (!settings.pin_file.empty()) absl::StrAppend(&line, " pin-file=", settings.pin_file);
  if (!settings.pin_env.empty()) absl::StrAppend(&line, " pin-env=", settings.pin_env);
  return line;
}

absl::StatusOr<ImportedKeyFile> ImportKeyFile(absl::string_view text, absl::string_view source,
                                              Token& token, absl::string_view token_uri,
                                              const std::vector<std::string>& names,
                                              const keys::TokenSettings* settings) {
  absl::StatusOr<keys::KeyStore> store = keys::KeyStore::Parse(text, source);
  if (!store.ok()) return store.status();
  auto wanted = [&](absl::string_view name) {
    return names.empty() || std::find(names.begin(), names.end(), name) != names.end();
  };
  for (const std::string& name : names) {
    const keys::Key* key = store->Find(name);
    if (key == nullptr) return absl::NotFoundError(absl::StrCat("no key '", name, "' in ", source));
    if (key->in_token()) {
      return absl::FailedPreconditionError(absl::StrCat("key '", name, "' is in a token already"));
    }
  }
  ImportedKeyFile out;
  if (settings != nullptr && !store->has_token_settings()) {
    absl::StrAppend(&out.text, TokenSettingsLine(*settings), "\n");
  }
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::string_view code = line.substr(0, line.find('#'));
    std::vector<absl::string_view> tokens =
        absl::StrSplit(code, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (settings != nullptr && !tokens.empty() && tokens[0] == "pkcs11") {
      absl::StrAppend(&out.text, TokenSettingsLine(*settings), "\n");
      continue;
    }
    const keys::Key* key =
        tokens.size() >= 4 && tokens[0] == "key" ? store->Find(tokens[1]) : nullptr;
    if (key == nullptr || key->in_token() || !wanted(key->name)) {
      absl::StrAppend(&out.text, line, "\n");
      continue;
    }
    DESFIRED_RETURN_IF_ERROR(ImportSecretKey(token, key->name, key->type, key->value.view()));
    // The value is the 4th field: the line is rebuilt up to it, the rest kept as written.
    const size_t value_at = static_cast<size_t>(tokens[3].data() - line.data());
    absl::StrAppend(&out.text, line.substr(0, value_at), token_uri, ";object=", key->name,
                    line.substr(value_at + tokens[3].size()), "\n");
    out.moved.push_back(key->name);
  }
  if (!out.text.empty() && !absl::EndsWith(text, "\n")) out.text.pop_back();
  return out;
}

}  // namespace desfired::pkcs11
