// The roles=, use= and methods= options of a key line: parsing, errors that name the line and
// never the value, and what a grant allows (defaults for keys without the options included).
#include "core/keys/key_grant.h"

#include <string>

#include "core/keys/key_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace desfired::keys {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kValue[] = "00112233445566778899aabbccddeeff";

absl::StatusOr<KeyStore> ParseLine(const std::string& options) {
  return KeyStore::Parse(std::string("key k AES128 ") + kValue + " " + options + "\n", "keys.conf");
}

TEST(KeyGrantTest, ParsesRolesUsesAndMethods) {
  absl::StatusOr<KeyStore> s =
      ParseLine("version=1 roles=viewer,operator use=read,app-master methods=ReadData,GetCardInfo");
  ASSERT_TRUE(s.ok()) << s.status();
  const KeyGrant& g = s->Find("k")->grant;
  ASSERT_TRUE(g.roles.has_value());
  EXPECT_THAT(*g.roles, ::testing::ElementsAre("viewer", "operator"));
  EXPECT_TRUE(g.scoped());
  EXPECT_THAT(g.methods, ::testing::ElementsAre("ReadData", "GetCardInfo"));
  EXPECT_EQ(g.Describe(), "roles=viewer,operator use=read,app-master methods=ReadData,GetCardInfo");
  EXPECT_EQ(s->Find("k")->version, 1);
}

TEST(KeyGrantTest, AKeyWithoutOptionsIsNotScoped) {
  absl::StatusOr<KeyStore> s = ParseLine("");
  ASSERT_TRUE(s.ok()) << s.status();
  const KeyGrant& g = s->Find("k")->grant;
  EXPECT_FALSE(g.scoped());
  EXPECT_THAT(g.Describe(), HasSubstr("no roles=/use="));
}

TEST(KeyGrantTest, BadOptionsNameTheLineAndTheKeyNeverTheValue) {
  const struct {
    const char* options;
    const char* expect;
  } cases[] = {
      {"roles=root", "keys.conf:1: key 'k': option 'roles=root' names 'root', not a role"},
      {"roles=Viewer", "not a role"},
      {"roles=", "has an empty item"},
      {"roles=viewer,,admin", "has an empty item"},
      {"roles=admin,admin", "names 'admin' twice"},
      {"use=master", "names 'master', not a use (read, write, change, app-master, picc-master"},
      {"use=none,read", "names 'none', not a use"},
      {"use=read use=write", "option 'use=write' is given twice"},
      {"methods=Read-Data", "not a method name"},
      {"role=admin", "is an unknown option"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<KeyStore> s = ParseLine(c.options);
    ASSERT_FALSE(s.ok()) << c.options;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c.options;
    EXPECT_THAT(s.status().message(), HasSubstr(c.expect)) << c.options;
    EXPECT_THAT(s.status().message(), Not(HasSubstr(kValue))) << c.options;
  }
}

TEST(KeyGrantTest, UseNamesRoundTrip) {
  for (KeyUse use :
       {KeyUse::kRead, KeyUse::kWrite, KeyUse::kChange, KeyUse::kAppMaster, KeyUse::kPiccMaster}) {
    EXPECT_EQ(ParseKeyUse(KeyUseName(use)), use);
  }
  EXPECT_FALSE(ParseKeyUse("master").has_value());
  EXPECT_FALSE(ChangesCard(KeyUse::kRead));
  EXPECT_FALSE(ChangesCard(KeyUse::kWrite));
  EXPECT_TRUE(ChangesCard(KeyUse::kChange));
  EXPECT_TRUE(ChangesCard(KeyUse::kAppMaster));
  EXPECT_TRUE(ChangesCard(KeyUse::kPiccMaster));
}

// The defaults: without roles= and use=, read and write for every role, the change-capable uses
// for admins only.
TEST(KeyGrantTest, UnscopedKeysLetOnlyAdminsChangeACard) {
  const KeyGrant g;
  for (absl::string_view role : kKeyRoleNames) {
    const bool admin = role == "admin";
    EXPECT_TRUE(g.Allows(role, KeyUse::kRead, "ReadData")) << role;
    EXPECT_TRUE(g.Allows(role, KeyUse::kWrite, "Debit")) << role;
    EXPECT_EQ(g.Allows(role, KeyUse::kChange, "ChangeKey"), admin) << role;
    EXPECT_EQ(g.Allows(role, KeyUse::kAppMaster, "ReadData"), admin) << role;
    EXPECT_EQ(g.Allows(role, KeyUse::kPiccMaster, "GetCardInfo"), admin) << role;
  }
}

TEST(KeyGrantTest, ScopedKeysAllowExactlyWhatTheyList) {
  KeyGrant roles_only;  // use= defaults to read,write
  roles_only.roles = std::vector<std::string>{"viewer"};
  EXPECT_TRUE(roles_only.Allows("viewer", KeyUse::kRead, "ReadData"));
  EXPECT_TRUE(roles_only.Allows("viewer", KeyUse::kWrite, "ReadData"));
  EXPECT_FALSE(roles_only.Allows("viewer", KeyUse::kAppMaster, "ReadData"));
  EXPECT_FALSE(roles_only.Allows("admin", KeyUse::kRead, "ReadData"));

  KeyGrant uses_only;  // roles= defaults to every role
  uses_only.uses = 1u << static_cast<unsigned>(KeyUse::kPiccMaster);
  EXPECT_TRUE(uses_only.Allows("viewer", KeyUse::kPiccMaster, "GetCardInfo"));
  EXPECT_FALSE(uses_only.Allows("admin", KeyUse::kRead, "ReadData"));

  absl::StatusOr<KeyStore> none = ParseLine("use=none");  // a tap-only key
  ASSERT_TRUE(none.ok()) << none.status();
  for (KeyUse use :
       {KeyUse::kRead, KeyUse::kWrite, KeyUse::kChange, KeyUse::kAppMaster, KeyUse::kPiccMaster}) {
    EXPECT_FALSE(none->Find("k")->grant.Allows("admin", use, "ReadData"));
  }
  EXPECT_EQ(none->Find("k")->grant.Describe(), "use=none");

  KeyGrant methods;  // methods= alone keeps the defaults, narrowed to the methods
  methods.methods = {"GetValue"};
  EXPECT_TRUE(methods.Allows("viewer", KeyUse::kRead, "GetValue"));
  EXPECT_FALSE(methods.Allows("viewer", KeyUse::kRead, "ReadData"));
  EXPECT_FALSE(methods.Allows("viewer", KeyUse::kAppMaster, "GetValue"));
  EXPECT_FALSE(methods.scoped());
}

}  // namespace
}  // namespace desfired::keys
