#include "core/keys/key_grant.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace desfired::keys {
namespace {

// Every use with its name in the key file, in the order Describe lists them.
struct UseName {
  KeyUse use;
  absl::string_view name;
};
constexpr UseName kUseNames[] = {{KeyUse::kRead, "read"},
                                 {KeyUse::kWrite, "write"},
                                 {KeyUse::kChange, "change"},
                                 {KeyUse::kAppMaster, "app-master"},
                                 {KeyUse::kPiccMaster, "picc-master"}};

uint8_t Bit(KeyUse use) { return static_cast<uint8_t>(1u << static_cast<unsigned>(use)); }

bool Contains(const std::vector<std::string>& list, absl::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

bool IsRoleName(absl::string_view name) {
  return std::find(std::begin(kKeyRoleNames), std::end(kKeyRoleNames), name) !=
         std::end(kKeyRoleNames);
}

bool IsMethodName(absl::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalpha(static_cast<unsigned char>(c));
  });
}

// The comma-separated items of `value`; `*problem` set for an empty list, an empty item or a
// repeated one.
std::vector<std::string> SplitList(absl::string_view value, std::string* problem) {
  std::vector<std::string> items = absl::StrSplit(value, ',');
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].empty()) {
      *problem = "has an empty item";
      return {};
    }
    if (std::find(items.begin(), items.begin() + i, items[i]) != items.begin() + i) {
      *problem = absl::StrCat("names '", items[i], "' twice");
      return {};
    }
  }
  return items;
}

}  // namespace

absl::string_view KeyUseName(KeyUse use) {
  for (const UseName& u : kUseNames) {
    if (u.use == use) return u.name;
  }
  return "unknown";
}

std::optional<KeyUse> ParseKeyUse(absl::string_view name) {
  for (const UseName& u : kUseNames) {
    if (u.name == name) return u.use;
  }
  return std::nullopt;
}

bool ChangesCard(KeyUse use) { return use != KeyUse::kRead && use != KeyUse::kWrite; }

bool KeyGrant::Allows(absl::string_view role, KeyUse use, absl::string_view method) const {
  if (!methods.empty() && !Contains(methods, method)) return false;
  if (!scoped()) return !ChangesCard(use) || role == "admin";
  if (roles.has_value() && !Contains(*roles, role)) return false;
  return (uses.value_or(Bit(KeyUse::kRead) | Bit(KeyUse::kWrite)) & Bit(use)) != 0;
}

std::string KeyGrant::Describe() const {
  std::vector<std::string> parts;
  if (!scoped()) parts.push_back("no roles=/use= (change-capable uses: admin only)");
  if (roles.has_value()) parts.push_back(absl::StrCat("roles=", absl::StrJoin(*roles, ",")));
  if (uses.has_value()) {
    std::vector<absl::string_view> names;
    for (const UseName& u : kUseNames) {
      if ((*uses & Bit(u.use)) != 0) names.push_back(u.name);
    }
    if (names.empty()) names.push_back("none");
    parts.push_back(absl::StrCat("use=", absl::StrJoin(names, ",")));
  }
  if (!methods.empty()) parts.push_back(absl::StrCat("methods=", absl::StrJoin(methods, ",")));
  return absl::StrJoin(parts, " ");
}

bool ParseGrantOption(absl::string_view name, absl::string_view value, KeyGrant* grant,
                      std::string* problem) {
  if (name != "roles" && name != "use" && name != "methods") return false;
  if ((name == "roles" && grant->roles.has_value()) || (name == "use" && grant->uses.has_value()) ||
      (name == "methods" && !grant->methods.empty())) {
    *problem = "is given twice";
    return true;
  }
  const std::vector<std::string> items = SplitList(value, problem);
  if (!problem->empty()) return true;
  if (name == "roles") {
    for (const std::string& role : items) {
      if (!IsRoleName(role)) {
        *problem = absl::StrCat("names '", role, "', not a role (viewer, operator, admin)");
        return true;
      }
    }
    grant->roles = items;
  } else if (name == "use") {
    uint8_t uses = 0;
    if (items.size() == 1 && items[0] == "none") {
      grant->uses = uses;  // e.g. a key that only verifies tap records
      return true;
    }
    for (const std::string& item : items) {
      std::optional<KeyUse> use = ParseKeyUse(item);
      if (!use) {
        *problem = absl::StrCat(
            "names '", item,
            "', not a use (read, write, change, app-master, picc-master; or none alone)");
        return true;
      }
      uses |= Bit(*use);
    }
    grant->uses = uses;
  } else {
    for (const std::string& method : items) {
      if (!IsMethodName(method)) {
        *problem = absl::StrCat("names '", method, "', not a method name (e.g. ReadData)");
        return true;
      }
    }
    grant->methods = items;
  }
  return true;
}

}  // namespace desfired::keys
