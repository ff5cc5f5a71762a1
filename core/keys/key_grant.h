// KeyGrant: who may have desfired present a stored key to a card, and as what — the `roles=`,
// `use=` and `methods=` options of a `key` line (docs/key-store.md, "Who may use a key").
//
//   key transit-read   AES128 a0a1...  roles=viewer,operator,admin use=read
//   key transit-master AES128 0011...  roles=admin use=app-master,change
//
// A key is presented in one of five uses, decided by where the request authenticates with it
// (server/security/key_policy.h does the deciding):
//   picc-master  key 0 at the card level (aid 000000): formats the card, creates and deletes
//                applications, changes the card's keys and settings
//   app-master   key 0 of an application: creates and deletes files, changes the
//                application's keys and settings, and has every file right the card gives it
//   read         another key of an application, for a call that only reads
//   write        another key of an application, for a call that changes file contents
//   change       another key of an application, for a call that changes keys, settings or files
// picc-master, app-master and change can change what a card is ("change-capable" uses).
// `use=none` presents the key nowhere (a key that only verifies tap records).
//
// Thread-safe: value types and pure functions.
#ifndef DESFIRED_CORE_KEYS_KEY_GRANT_H_
#define DESFIRED_CORE_KEYS_KEY_GRANT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace desfired::keys {

enum class KeyUse : uint8_t { kRead, kWrite, kChange, kAppMaster, kPiccMaster };

// "read", "write", "change", "app-master", "picc-master".
absl::string_view KeyUseName(KeyUse use);
// The use a name as KeyUseName writes it stands for; nullopt otherwise.
std::optional<KeyUse> ParseKeyUse(absl::string_view name);
// picc-master, app-master and change.
bool ChangesCard(KeyUse use);

// The role names of the key file (the roles of docs/security.md).
inline constexpr absl::string_view kKeyRoleNames[] = {"viewer", "operator", "admin"};

struct KeyGrant {
  // roles= as written (each one of kKeyRoleNames, no repeats); nullopt: the option is absent.
  std::optional<std::vector<std::string>> roles;
  // use= as a set (bit 1 << KeyUse; 0 for use=none); nullopt: the option is absent.
  std::optional<uint8_t> uses;
  // methods= (API method names, e.g. "ReadData"); empty: any method. The server checks the
  // names when it loads the store.
  std::vector<std::string> methods;

  // roles= or use= was given: the key is scoped explicitly.
  bool scoped() const { return roles.has_value() || uses.has_value(); }

  // Whether a caller of `role` (a kKeyRoleNames name) may have the key presented as `use` in a
  // call of `method`:
  //   methods= given and `method` not in it                     no
  //   not scoped (no roles=, no use=)                            read and write: every role;
  //                                                              change-capable uses: admin only
  //   scoped                                                     `role` in roles= (default: every
  //                                                              role) and `use` in use= (default:
  //                                                              read, write)
  bool Allows(absl::string_view role, KeyUse use, absl::string_view method) const;

  // The grant as the key file writes it, for errors: "roles=viewer use=read", or "no roles=/use=
  // (change-capable uses: admin only)"; methods= when given.
  std::string Describe() const;
};

// Parses the key-line option `name`=`value` into `grant` when `name` is roles, use or methods
// and returns true; `*problem` is then set (what is wrong with the value) when the value is
// bad. Returns false for any other option name.
bool ParseGrantOption(absl::string_view name, absl::string_view value, KeyGrant* grant,
                      std::string* problem);

}  // namespace desfired::keys

#endif  // DESFIRED_CORE_KEYS_KEY_GRANT_H_
