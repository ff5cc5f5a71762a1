// DESFire authentication in every scheme (legacy 0A with DES and 2TDEA, ISO 1A with DES, 2TDEA
// and 3TDEA, AES AA, EV2First 71, EV2NonFirst 77), GetValue and a Debit, against the emulated
// transit card: the same sequence with the keys in a SoftHSM2 token gives the same results as
// with the keys in the file.
#include <stdlib.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/cardops/values.h"
#include "core/pkcs11/bind.h"
#include "gtest/gtest.h"
#include "tests/testing/emulated_card_test.h"
#include "tests/testing/softhsm.h"

namespace desfired::pkcs11 {
namespace {

using desfire::AuthScheme;
using desfire::CardKey;

constexpr char kKeys[] = R"(
key picc        DES     0000000000000000
key app_read    AES128  a0a1a2a3a4a5a6a7a8a9aaabacadaeaf  version=1
key app_debit   AES128  b0b1b2b3b4b5b6b7b8b9babbbcbdbebf  version=1
key tdea2       2TDEA   0123456789abcdeffedcba9876543210
key tdea3       3TDEA   00112233445566778899aabbccddeeff0123456789abcdef
)";

class TokenAuthTest : public testing::EmulatedCardTest {
 protected:
  void SetUp() override {
    hsm_ = testing::SoftHsmOrSkip();
    if (hsm_ == nullptr) return;
    auto file = keys::KeyStore::Parse(kKeys, "file");
    ASSERT_TRUE(file.ok());
    file_keys_ = *std::move(file);
  }
  void TearDown() override {
    keys_ = keys::KeyStore();
    binder_.reset();
  }

  CardKey Presented(const char* name) {
    const keys::Key* k = keys_.Find(name);
    EXPECT_NE(k, nullptr) << name;
    if (k->cipher != nullptr) return {k->type, {}, k->version, k->cipher.get()};
    return {k->type, k->value.view(), k->version};
  }
  CardKey FileKey(const char* name) {
    const keys::Key* k = file_keys_.Find(name);
    return {k->type, k->value.view(), k->version};
  }

  // The sequence, on a fresh transit card, with the keys of `key_file` (bound to the token
  // when it names token keys): one line per step, its status and result.
  std::vector<std::string> Run(const std::string& key_file) {
    Load("transit.json", key_file.c_str());
    binder_ = std::make_unique<TokenKeyBinder>();
    absl::Status bound = binder_->Bind(keys_);
    EXPECT_TRUE(bound.ok()) << bound;
    std::vector<std::string> log;
    auto note = [&](const std::string& step, const absl::Status& s, const std::string& r = "") {
      log.push_back(absl::StrCat(step, ": ", s.ok() ? "OK" : s.ToString(), " ", r));
    };
    desfire::DesfireCard& card = *card_;
    auto version = [&](const std::string& step, uint8_t key_no) {
      auto v = card.GetKeyVersion(key_no);  // MACed under the session keys in EV1 / EV2
      note(step + " then GetKeyVersion", v.status(), v.ok() ? std::to_string(*v) : "");
    };
    note("select card", card.SelectApplication(0));
    note("legacy DES", card.Authenticate(0, Presented("picc"), AuthScheme::kLegacy));
    version("legacy DES", 0);
    note("ISO DES", card.Authenticate(0, Presented("picc"), AuthScheme::kIso));
    version("ISO DES", 0);
    // The card master becomes 2TDEA, then 3TDEA (ChangeKey takes file keys: a token key's
    // value never leaves the token).
    note("change to 2TDEA", card.ChangeKey(0, FileKey("tdea2")));
    note("legacy 2TDEA", card.Authenticate(0, Presented("tdea2"), AuthScheme::kLegacy));
    version("legacy 2TDEA", 0);
    note("ISO 2TDEA", card.Authenticate(0, Presented("tdea2"), AuthScheme::kIso));
    version("ISO 2TDEA", 0);
    note("change to 3TDEA", card.ChangeKey(0, FileKey("tdea3")));
    note("ISO 3TDEA", card.Authenticate(0, Presented("tdea3"), AuthScheme::kIso));
    version("ISO 3TDEA", 0);
    note("wrong key",
         card.Authenticate(0, Presented("tdea2"), AuthScheme::kIso));  // a 3TDEA card key
    // The transit application: AES, EV2First, EV2NonFirst.
    note("select app", card.SelectApplication(testing::kEmulatedTransitAid));
    note("AES", card.Authenticate(1, Presented("app_read"), AuthScheme::kAes));
    version("AES", 1);
    note("EV2First", card.Authenticate(1, Presented("app_read"), AuthScheme::kEv2));
    version("EV2First", 1);
    note("EV2NonFirst", card.Authenticate(2, Presented("app_debit"), AuthScheme::kEv2));
    version("EV2NonFirst", 2);
    // Through core/cardops, as desfired runs them.
    for (AuthScheme scheme : {AuthScheme::kAes, AuthScheme::kEv2}) {
      cardops::GetValueRequest get;
      get.target.reader = testing::kEmulatedReader;
      get.aid = testing::kEmulatedTransitAid;
      get.file_no = 1;
      get.auth = {.name = "app_read", .key_no = 1, .scheme = scheme};
      auto value = cardops::GetValue(ctx_, get);
      note("GetValue", value.status(), value.ok() ? std::to_string(*value) : "");
      cardops::ValueChangeRequest debit;
      debit.target.reader = testing::kEmulatedReader;
      debit.aid = testing::kEmulatedTransitAid;
      debit.file_no = 1;
      debit.amount = 150;
      debit.auth = {.name = "app_debit", .key_no = 2, .scheme = scheme};
      auto debited = cardops::Debit(ctx_, debit);
      note("Debit", debited.status(),
           debited.ok() ? absl::StrCat(debited->value_before.value_or(-1), "->",
                                       debited->value_after.value_or(-1))
                        : "");
    }
    log.push_back(absl::StrCat("card value ", SimValue()));
    return log;
  }

  std::unique_ptr<testing::SoftHsmToken> hsm_;
  std::unique_ptr<TokenKeyBinder> binder_;
  keys::KeyStore file_keys_;
};

TEST_F(TokenAuthTest, EverySchemeGivesTheSameResultsWithTokenKeys) {
  const std::vector<std::string> with_file = Run(kKeys);
  auto token_file = hsm_->ImportKeys(kKeys);
  ASSERT_TRUE(token_file.ok()) << token_file.status();
  ASSERT_EQ(token_file->find("a0a1a2a3"), std::string::npos);
  const std::vector<std::string> with_token = Run(*token_file);
  for (const char* name : {"picc", "app_read", "app_debit", "tdea2", "tdea3"}) {
    ASSERT_NE(keys_.Find(name)->cipher, nullptr) << name;
  }
  EXPECT_EQ(with_token, with_file);
  // ChangeKey refuses a token key (its value would have to leave the token), before any APDU.
  const size_t sent = transport_->transmitted();
  absl::Status change = card_->ChangeKey(1, Presented("app_read"));
  EXPECT_EQ(change.code(), absl::StatusCode::kFailedPrecondition) << change;
  EXPECT_NE(change.message().find("PKCS#11 token"), std::string::npos) << change;
  EXPECT_EQ(transport_->transmitted(), sent);
  // The sequence did what it says: every authentication and MACed read passed, the wrong key
  // was refused, and both debits happened.
  ASSERT_EQ(with_file.size(), 26u);
  for (const std::string& line : with_file) {
    if (line.rfind("wrong key", 0) == 0) {
      EXPECT_EQ(line.find(": OK"), std::string::npos) << line;
    } else if (line.rfind("card value", 0) != 0) {
      EXPECT_NE(line.find(": OK"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(with_file.back(), "card value 2200");
}

}  // namespace
}  // namespace desfired::pkcs11
