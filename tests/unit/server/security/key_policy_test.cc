// The key policy: every role × every key class (PICC master, application master, read, write and
// change keys, diversified keys), for keys without grants (the defaults) and with them; the
// refusal's reason and metadata; the methods= check and the start-up warnings.
#include "server/security/key_policy.h"

#include <string>
#include <vector>

#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace desfired::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint32_t kAid = 0xF51001;

// Unscoped keys (no roles=, no use=) and scoped ones, diversified or not.
constexpr char kStore[] =
    "key picc        DES    0000000000000000\n"
    "key app         AES128 00112233445566778899aabbccddeeff\n"
    "key plain       AES128 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\n"
    "key cards       AES128 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf diversify=an10922 system=4e5850\n"
    "key reader      AES128 c0c1c2c3c4c5c6c7c8c9cacbcccdcecf roles=viewer,operator,admin "
    "use=read\n"
    "key writer      AES128 d0d1d2d3d4d5d6d7d8d9dadbdcdddedf roles=operator,admin use=read,write\n"
    "key changer     AES128 e0e1e2e3e4e5e6e7e8e9eaebecedeeef roles=admin use=change\n"
    "key issuer      DES    1111111111111111 roles=admin use=picc-master\n"
    "key cards-read  AES128 f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff diversify=an10922 roles=viewer "
    "use=read\n"
    "key cards-admin AES128 0f0e0d0c0b0a09080706050403020100 diversify=an10922 roles=admin "
    "use=app-master,change\n"
    "key ops-master  AES128 1f1e1d1c1b1a19181716151413121110 roles=operator,admin "
    "use=app-master\n";

keys::KeyStore Store() {
  absl::StatusOr<keys::KeyStore> store = keys::KeyStore::Parse(kStore, "keys.conf");
  EXPECT_TRUE(store.ok()) << store.status();
  return *std::move(store);
}

// A key class: where a request presents the key and in which method.
struct KeyClass {
  const char* name;
  const char* method;
  uint32_t aid;
  uint8_t key_no;
  keys::KeyUse use;
};
constexpr KeyClass kClasses[] = {
    {"picc-master", "GetCardInfo", 0, 0, keys::KeyUse::kPiccMaster},
    {"app-master", "ReadData", kAid, 0, keys::KeyUse::kAppMaster},
    {"read", "ReadData", kAid, 1, keys::KeyUse::kRead},
    {"write", "Debit", kAid, 2, keys::KeyUse::kWrite},
    {"change", "ChangeKey", kAid, 3, keys::KeyUse::kChange},
};
constexpr Role kRoles[] = {Role::kViewer, Role::kOperator, Role::kAdmin};

bool Allowed(const keys::KeyStore& store, Role role, const char* key, const KeyClass& c) {
  return CheckKeyUse(&store, role, c.method, {{key, c.aid, c.key_no}}).ok();
}

// The expected answers, one string per key: a letter per role (v, o, a) for each class in the
// order of kClasses, '-' where refused.
struct Expected {
  const char* key;
  const char* grid[5];  // picc-master, app-master, read, write, change
};
constexpr Expected kExpected[] = {
    // Unscoped: read and write for everyone, the rest for admins.
    {"picc", {"--a", "--a", "voa", "voa", "--a"}},
    {"app", {"--a", "--a", "voa", "voa", "--a"}},
    {"plain", {"--a", "--a", "voa", "voa", "--a"}},
    {"cards", {"--a", "--a", "voa", "voa", "--a"}},  // diversified, unscoped
    // Scoped: exactly roles= × use=.
    {"reader", {"---", "---", "voa", "---", "---"}},
    {"writer", {"---", "---", "-oa", "-oa", "---"}},
    {"changer", {"---", "---", "---", "---", "--a"}},
    {"issuer", {"--a", "---", "---", "---", "---"}},
    {"cards-read", {"---", "---", "v--", "---", "---"}},   // diversified, viewer only
    {"cards-admin", {"---", "--a", "---", "---", "--a"}},  // diversified, admin master
    {"ops-master", {"---", "-oa", "---", "---", "---"}},   // an explicit grant to operators
};

TEST(KeyPolicyTest, EveryRoleTimesEveryKeyClass) {
  const keys::KeyStore store = Store();
  for (const Expected& e : kExpected) {
    for (size_t c = 0; c < std::size(kClasses); ++c) {
      std::string got;
      for (size_t r = 0; r < std::size(kRoles); ++r) {
        got += Allowed(store, kRoles[r], e.key, kClasses[c]) ? "voa"[r] : '-';
      }
      EXPECT_EQ(got, e.grid[c]) << "key " << e.key << " as " << kClasses[c].name;
    }
  }
}

TEST(KeyPolicyTest, KeyUseFollowsWhereAndHowTheKeyIsPresented) {
  for (const KeyClass& c : kClasses) {
    EXPECT_EQ(KeyUseOf(c.method, c.aid, c.key_no), c.use) << c.name;
  }
  // The card level has only the master key; key 0 of an application is its master whatever
  // the method; other keys take the use of the method's role.
  EXPECT_EQ(KeyUseOf("ListApplications", 0, 0), keys::KeyUse::kPiccMaster);
  EXPECT_EQ(KeyUseOf("ChangeKeySettings", 0, 0), keys::KeyUse::kPiccMaster);
  EXPECT_EQ(KeyUseOf("GetValue", kAid, 0), keys::KeyUse::kAppMaster);
  EXPECT_EQ(KeyUseOf("GetValue", kAid, 1), keys::KeyUse::kRead);
  EXPECT_EQ(KeyUseOf("ReadTapLog", kAid, 1), keys::KeyUse::kRead);
  EXPECT_EQ(KeyUseOf("CommitTransaction", kAid, 2), keys::KeyUse::kWrite);
  EXPECT_EQ(KeyUseOf("CreateFile", kAid, 1), keys::KeyUse::kChange);
  EXPECT_EQ(KeyUseOf("NoSuchMethod", kAid, 1), keys::KeyUse::kChange);  // fails closed
}

TEST(KeyPolicyTest, RefusalNamesTheKeyTheUseAndTheRoleNeverTheValue) {
  const keys::KeyStore store = Store();
  absl::Status s = CheckKeyUse(&store, Role::kViewer, "GetCardInfo", {{"picc", 0, 0}});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(apdu::GetReason(s), "KEY_ROLE_DENIED");
  EXPECT_EQ(apdu::GetErrorMetadata(s, apdu::kMetadataKeyName), "picc");
  EXPECT_EQ(apdu::GetErrorMetadata(s, apdu::kMetadataKeyUse), "picc-master");
  EXPECT_EQ(apdu::GetErrorMetadata(s, apdu::kMetadataRole), "viewer");
  EXPECT_THAT(s.message(), HasSubstr("key 'picc' as picc-master (key 0 of the card)"));
  EXPECT_THAT(s.message(), HasSubstr("no roles=/use="));
  EXPECT_THAT(s.message(), Not(HasSubstr("0000000000000000")));

  s = CheckKeyUse(&store, Role::kOperator, "ReadData", {{"reader", kAid, 0}});
  EXPECT_EQ(apdu::GetErrorMetadata(s, apdu::kMetadataKeyUse), "app-master");
  EXPECT_THAT(s.message(), HasSubstr("key 0 of application f51001"));
  EXPECT_THAT(s.message(), HasSubstr("roles=viewer,operator,admin use=read"));
}

TEST(KeyPolicyTest, EveryPresentedKeyIsCheckedAndUnknownNamesArePassedOver) {
  const keys::KeyStore store = Store();
  // ChangeKey: the session key may change, the new key may not be written as a master.
  absl::Status s =
      CheckKeyUse(&store, Role::kAdmin, "ChangeKey", {{"changer", kAid, 3}, {"reader", kAid, 3}});
  EXPECT_EQ(apdu::GetErrorMetadata(s, apdu::kMetadataKeyName), "reader");
  // An unknown name is the card operation's KEY_NOT_FOUND; no store has no keys.
  EXPECT_TRUE(CheckKeyUse(&store, Role::kViewer, "ReadData", {{"nope", kAid, 0}}).ok());
  EXPECT_TRUE(CheckKeyUse(nullptr, Role::kViewer, "GetCardInfo", {{"picc", 0, 0}}).ok());
  EXPECT_TRUE(CheckKeyUse(&store, Role::kViewer, "GetCardInfo", {}).ok());
}

TEST(KeyPolicyTest, MethodsNarrowAGrant) {
  absl::StatusOr<keys::KeyStore> store = keys::KeyStore::Parse(
      "key values AES128 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf methods=GetValue,Debit\n", "k");
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE(CheckKeyUse(&*store, Role::kViewer, "GetValue", {{"values", kAid, 1}}).ok());
  EXPECT_TRUE(CheckKeyUse(&*store, Role::kOperator, "Debit", {{"values", kAid, 2}}).ok());
  EXPECT_FALSE(CheckKeyUse(&*store, Role::kViewer, "ReadData", {{"values", kAid, 1}}).ok());
  EXPECT_TRUE(CheckKeyGrants(*store).ok());

  store =
      keys::KeyStore::Parse("key k AES128 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf methods=Read\n", "k");
  ASSERT_TRUE(store.ok()) << store.status();
  absl::Status bad = CheckKeyGrants(*store);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("key 'k': methods= names 'Read'"));
}

TEST(KeyPolicyTest, WarnsOncePerUnscopedKeyByName) {
  const std::vector<std::string> warnings = UnscopedKeyWarnings(Store());
  ASSERT_EQ(warnings.size(), 4u);
  EXPECT_THAT(warnings[0], HasSubstr("key 'picc' has no roles= or use="));
  EXPECT_THAT(warnings[0], HasSubstr("only admins may use it as picc-master"));
  EXPECT_THAT(warnings[3], HasSubstr("key 'cards'"));
  for (const std::string& w : warnings) {
    EXPECT_THAT(w, Not(HasSubstr("0000000000000000")));
    EXPECT_THAT(w, Not(HasSubstr("00112233445566778899aabbccddeeff")));
  }
}

}  // namespace
}  // namespace desfired::server
