#include "server/security/key_policy.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"

namespace desfired::server {
namespace {

// Where a key is presented, for messages: "key 0 of the card", "key 2 of application f51001".
std::string PlaceOf(const KeyPresentation& p) {
  if (p.aid == 0) return absl::StrFormat("key %d of the card", p.key_no);
  return absl::StrFormat("key %d of application %06x", p.key_no, p.aid);
}

absl::Status KeyRoleDenied(const keys::Key& key, const KeyPresentation& p, keys::KeyUse use,
                           Role role, absl::string_view method) {
  absl::Status denied = apdu::WithReason(
      absl::PermissionDeniedError(absl::StrCat(
          "a caller with the role ", RoleName(role), " may not use key '", key.name, "' as ",
          keys::KeyUseName(use), " (", PlaceOf(p), ") in ", method, ": the key store grants it ",
          key.grant.Describe(), " (docs/key-store.md); nothing was sent to the card")),
      kReasonKeyRoleDenied);
  denied = apdu::WithErrorMetadata(std::move(denied), apdu::kMetadataKeyName, key.name);
  denied = apdu::WithErrorMetadata(std::move(denied), apdu::kMetadataKeyUse, keys::KeyUseName(use));
  return apdu::WithErrorMetadata(std::move(denied), apdu::kMetadataRole, RoleName(role));
}

}  // namespace

keys::KeyUse KeyUseOf(absl::string_view method, uint32_t aid, uint8_t key_no) {
  if (aid == 0) return keys::KeyUse::kPiccMaster;
  if (key_no == 0) return keys::KeyUse::kAppMaster;
  switch (RequiredRole(method)) {
    case Role::kViewer:
      return keys::KeyUse::kRead;
    case Role::kOperator:
      return keys::KeyUse::kWrite;
    case Role::kAdmin:
      break;
  }
  return keys::KeyUse::kChange;
}

absl::Status CheckKeyUse(const keys::KeyStore* store, Role role, absl::string_view method,
                         const std::vector<KeyPresentation>& presented) {
  if (store == nullptr) return absl::OkStatus();
  for (const KeyPresentation& p : presented) {
    const keys::Key* key = store->Find(p.key_name);
    if (key == nullptr) continue;
    const keys::KeyUse use = KeyUseOf(method, p.aid, p.key_no);
    if (!key->grant.Allows(RoleName(role), use, method)) {
      return KeyRoleDenied(*key, p, use, role, method);
    }
  }
  return absl::OkStatus();
}

absl::Status CheckKeyGrants(const keys::KeyStore& store) {
  for (const auto& key : store.keys()) {
    for (const std::string& method : key->grant.methods) {
      bool known = false;
      for (const MethodRole& m : MethodRoles()) known = known || m.method == method;
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat("key '", key->name, "': methods= names '", method,
                         "', not a CardService method (docs/api.md)"));
      }
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> UnscopedKeyWarnings(const keys::KeyStore& store) {
  std::vector<std::string> out;
  for (const auto& key : store.keys()) {
    if (key->grant.scoped()) continue;
    out.push_back(absl::StrCat(
        "key store: key '", key->name,
        "' has no roles= or use=: every role may read and write with it, only admins may use it "
        "as picc-master, app-master or change key (docs/key-store.md, \"Who may use a key\")"));
  }
  return out;
}

}  // namespace desfired::server
