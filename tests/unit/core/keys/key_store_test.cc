#include "core/keys/key_store.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace desfired::keys {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kGood[] =
    "# test store\n"
    "key transit AES128 2b7e151628aed2a6abf7158809cf4f3c version=3  # trailing comment\n"
    "key legacy  2TDEA  0123456789abcdef23456789abcdef01\n"
    "key three   3K3DES 0123456789abcdef23456789abcdef01456789abcdef0123\n"
    "key master  AES    00112233445566778899aabbccddeeff\n"
    "tap terminal 0x001234 key=transit mac=AES128_CMAC_EV2\n"
    "tap terminal 4661 key=legacy\n"
    "tap card key=master system=4e585020416275\n"
    "tap static key=transit\n";

TEST(KeyStoreTest, ParsesKeysAndRules) {
  absl::StatusOr<KeyStore> s = KeyStore::Parse(kGood, "keys.conf");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->keys().size(), 4u);
  const Key* transit = s->Find("transit");
  ASSERT_NE(transit, nullptr);
  EXPECT_EQ(transit->type, crypto::KeyType::kAes128);
  EXPECT_EQ(transit->version, 3);
  EXPECT_EQ(HexEncode(transit->value.view()), "2b7e151628aed2a6abf7158809cf4f3c");
  EXPECT_EQ(s->Find("three")->type, crypto::KeyType::k3Tdea);
  ASSERT_EQ(s->terminal_rules().size(), 2u);
  EXPECT_EQ(s->terminal_rules()[0].terminal_id, 0x1234u);
  EXPECT_EQ(s->terminal_rules()[0].mac, crypto::MacAlgorithm::kAes128CmacEv2);
  EXPECT_EQ(s->terminal_rules()[1].terminal_id, 4661u);
  EXPECT_EQ(s->terminal_rules()[1].mac, crypto::MacAlgorithm::kTdesCmac);
  ASSERT_TRUE(s->card_rule().has_value());
  EXPECT_EQ(HexEncode(s->card_rule()->system_id), "4e585020416275");
  ASSERT_TRUE(s->static_rule().has_value());
  EXPECT_EQ(s->static_rule()->key, transit);
  EXPECT_EQ(s->Find("nope"), nullptr);
}

TEST(KeyStoreTest, ErrorsNameTheLineAndNeverTheKey) {
  struct Case {
    const char* text;
    const char* expect;
  };
  const Case cases[] = {
      {"key a AES128 2b7e151628aed2a6abf7158809cf4f\n",
       "keys.conf:1: key 'a': a AES128 key has 16 bytes, this one has 15"},
      {"\nkey a AES128 2b7e151628aed2a6abf7158809cf4fzz\n",
       "keys.conf:2: key 'a': value is not hex"},
      {"key a AES128 2b7e151628aed2a6abf7158809cf4f3\n", "odd number of hex digits"},
      {"key a BLOWFISH 00\n", "unknown type 'BLOWFISH'"},
      {"key a AES128\n", "expected: key <name>"},
      {"key a AES128 2b7e151628aed2a6abf7158809cf4f3c\nkey a AES128 "
       "2b7e151628aed2a6abf7158809cf4f3c\n",
       "keys.conf:2: key 'a' is defined twice"},
      {"key a AES128 2b7e151628aed2a6abf7158809cf4f3c colour=red\n", "unknown option"},
      {"key b@d AES128 2b7e151628aed2a6abf7158809cf4f3c\n", "is not valid"},
      {"tap static key=missing\n", "no key named 'missing'"},
      {"key a AES128 2b7e151628aed2a6abf7158809cf4f3c\ntap static key=a mac=TDES_CMAC\n",
       "cannot be used with a AES128 key"},
      {"key a 2TDEA 0123456789abcdef23456789abcdef01\ntap static key=a mac=AES128_CMAC\n",
       "cannot be used with a 2TDEA key"},
      {"key a DES 0123456789abcdef\ntap static key=a\n", "cannot be used with a DES key"},
      {"key a AES128 2b7e151628aed2a6abf7158809cf4f3c\ntap card key=a\n", "missing system"},
      {"key a AES128 2b7e151628aed2a6abf7158809cf4f3c\ntap terminal 0x1000000 key=a\n",
       "terminal id"},
      {"key a AES128 2b7e151628aed2a6abf7158809cf4f3c\ntap terminal 1 key=a\ntap terminal 1 "
       "key=a\n",
       "already has a tap rule"},
      {"key a AES128 2b7e151628aed2a6abf7158809cf4f3c\ntap static key=a\ntap static key=a\n",
       "a second 'tap static'"},
      {"key a AES128 2b7e151628aed2a6abf7158809cf4f3c\ntap sometimes key=a\n", "unknown tap rule"},
      {"keys a AES128 00\n", "unknown directive 'keys'"},
      // Token keys (docs/key-store.md, "Token keys").
      {"pkcs11 module=/m.so\npkcs11 module=/n.so\n", "a second 'pkcs11' line"},
      {"pkcs11 module=/m.so pin-file=/p pin-env=P\n", "not both"},
      {"pkcs11 module=/m.so pin=0123456789abcdef\n", "a PIN itself is never accepted"},
      {"key a DES pkcs11:token=t;object=a\ntap static key=a\n", "cannot be used with a DES key"},
      {"key a AES128 pkcs11:token=t;object=a\nkey a DES pkcs11:token=t;object=b\n",
       "defined twice"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<KeyStore> s = KeyStore::Parse(c.text, "keys.conf");
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string msg(s.status().message());
    EXPECT_THAT(msg, HasSubstr(c.expect)) << c.text;
    EXPECT_THAT(msg, Not(HasSubstr("2b7e1516"))) << "key bytes leaked: " << msg;
    EXPECT_THAT(msg, Not(HasSubstr("0123456789abcdef"))) << "key bytes leaked: " << msg;
  }
}

// A token key and a file key side by side, with the line that says where the token is.
constexpr char kMixed[] = R"(pkcs11 module=/usr/lib/softhsm/libsofthsm2.so pin-env=DESFIRED_PIN
key t AES128 pkcs11:token=desfired;object=t version=3 use=read
key f AES128 2b7e151628aed2a6abf7158809cf4f3c
)";

TEST(KeyStoreTest, TokenKeysAreMixedWithFileKeys) {
  absl::StatusOr<KeyStore> s = KeyStore::Parse(kMixed, "keys.conf");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->has_token_keys());
  EXPECT_EQ(s->token_settings().module, "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(s->token_settings().pin_env, "DESFIRED_PIN");
  const Key* t = s->Find("t");
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->in_token());
  EXPECT_EQ(t->token_uri, "pkcs11:token=desfired;object=t");
  EXPECT_EQ(t->version, 3);
  EXPECT_EQ(t->value.size(), 0u);
  EXPECT_EQ(t->cipher, nullptr);  // until core/pkcs11 binds it
  EXPECT_FALSE(s->Find("f")->in_token());
  // Not bound: no value to present.
  EXPECT_EQ(CardKeyFor(*t, Bytes(7, 1), 0).status().code(), absl::StatusCode::kFailedPrecondition);
}

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/keys_test.conf";
    std::ofstream(path_) << kGood;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_;
};

TEST_F(KeyFileTest, LoadsOwnerOnlyFile) {
  ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
  absl::StatusOr<KeyStore> s = KeyStore::LoadFile(path_);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->keys().size(), 4u);
}

TEST_F(KeyFileTest, RefusesFileReadableByOthers) {
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    ASSERT_EQ(::chmod(path_.c_str(), mode), 0);
    absl::StatusOr<KeyStore> s = KeyStore::LoadFile(path_);
    ASSERT_FALSE(s.ok()) << mode;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("chmod 600"));
  }
}

TEST_F(KeyFileTest, MissingFile) {
  absl::StatusOr<KeyStore> s = KeyStore::LoadFile(path_ + ".missing");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
}

TEST(KeyStoreApiTest, AddKeyAndStaticRule) {
  KeyStore s;
  EXPECT_TRUE(s.AddKey("k", crypto::KeyType::kAes128, Bytes(16, 1)).ok());
  EXPECT_FALSE(s.AddKey("k2", crypto::KeyType::kAes128, Bytes(15, 1)).ok());
  EXPECT_FALSE(s.SetStaticTapRule("missing", crypto::MacAlgorithm::kNone).ok());
  ASSERT_TRUE(s.SetStaticTapRule("k", crypto::MacAlgorithm::kNone).ok());
  EXPECT_EQ(s.static_rule()->mac, crypto::MacAlgorithm::kAes128Cmac);
}

// AN10922 §2.2 (vectors file: AN10922 AES-128): master 00112233…EEFF, UID 04782E21801D80,
// AID 3042F5 (as sent, least significant byte first: AID 0xF54230), system id "NXP Abu"
// → A8DD63A3B89D54B37CA802473FDA9175.
TEST(KeyStoreDiversifyTest, CardKeyForFollowsAn10922) {
  absl::StatusOr<KeyStore> s = KeyStore::Parse(
      "key cards AES128 00112233445566778899AABBCCDDEEFF diversify=an10922 "
      "system=4E585020416275 version=3\n"
      "key plain AES128 000102030405060708090a0b0c0d0e0f\n",
      "test");
  ASSERT_TRUE(s.ok()) << s.status();
  const Key* cards = s->Find("cards");
  ASSERT_NE(cards, nullptr);
  ASSERT_TRUE(cards->diversify.has_value());
  EXPECT_EQ(cards->version, 3);
  absl::StatusOr<SecretBytes> k = CardKeyFor(*cards, *HexDecode("04782E21801D80"), 0xF54230);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(HexEncode(k->view()), "a8dd63a3b89d54b37ca802473fda9175");
  // Another card gets another key; a key without diversification is returned as is.
  absl::StatusOr<SecretBytes> other = CardKeyFor(*cards, *HexDecode("04782E21801D81"), 0xF54230);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(HexEncode(other->view()), HexEncode(k->view()));
  absl::StatusOr<SecretBytes> plain = CardKeyFor(*s->Find("plain"), {}, 0);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(HexEncode(plain->view()), "000102030405060708090a0b0c0d0e0f");
  // A diversified key without the card's UID is an error that does not show the key.
  absl::StatusOr<SecretBytes> no_uid = CardKeyFor(*cards, {}, 0xF54230);
  EXPECT_EQ(no_uid.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_uid.status().message()), Not(HasSubstr("00112233")));
}

TEST(KeyStoreDiversifyTest, BadDiversifyOptionsNameTheLine) {
  for (const char* line : {"key a AES128 00112233445566778899AABBCCDDEEFF diversify=xyz",
                           "key a AES128 00112233445566778899AABBCCDDEEFF system=00",
                           "key a DES 0011223344556677 diversify=an10922",
                           "key a 2TDEA 00112233445566778899AABBCCDDEEFF diversify=an10922 "
                           "system=0102030405060708"}) {
    absl::StatusOr<KeyStore> s = KeyStore::Parse(line, "keys.conf");
    ASSERT_FALSE(s.ok()) << line;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("keys.conf:1"));
    EXPECT_THAT(std::string(s.status().message()), Not(HasSubstr("445566")));
  }
}

}  // namespace
}  // namespace desfired::keys
