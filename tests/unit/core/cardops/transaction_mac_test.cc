// Transaction MAC through the card operations (transaction_mac.h, values.h, issuing.h) over the
// emulated transit card: CreateFile of a TransactionMAC file from a store key, a debit that
// commits a reader id and has its TMV verified, a TMV that does not verify under another key,
// and the requests refused before anything is sent. (No public TMV vector exists: the TMV is the
// emulator's, written independently; docs/ev3.md.)
#include "core/cardops/transaction_mac.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "core/cardops/issuing.h"
#include "core/cardops/values.h"
#include "gtest/gtest.h"
#include "tests/unit/core/cardops/fixture.h"

namespace desfired::cardops {
namespace {

constexpr uint8_t kTmacFile = 15;
const Bytes kReaderId = test_util::Hex("28bf1982be086fbc60a22daeb66613ee");

class TransactionMacTest : public CardOpsTest {
 protected:
  void SetUp() override {
    Load("transit.json", absl::StrCat(testing::kCardOpsKeyFile,
                                      "key tmac        AES128  f7d23e0c44afade542bfdf2dc5c6ae02\n"
                                      "key tmac_other  AES128  0f7d23e0c44afade542bfdf2dc5c6ae0\n"
                                      "key tmac_des    DES     0102030405060708\n")
                             .c_str());
  }

  absl::Status CreateTmacFile(const std::string& key) {
    auto create = OnFile<CreateFileRequest>(kTmacFile, Key("app_master", 0));
    create.settings.type = desfire::FileType::kTransactionMac;
    create.settings.access = {.read = 1, .write = 0xF, .read_write = 2, .change = 0};
    create.settings.tmac_key_version = 2;
    create.tmac_key_name = key;
    return CreateFile(ctx_, create);
  }

  absl::StatusOr<ValueChange> DebitWithMac(const std::string& key, Bytes reader_id,
                                           bool defer = false) {
    // CommitReaderID needs an EV2 session.
    auto r = OnFile<ValueChangeRequest>(1, Key("app_debit", 2, desfire::AuthScheme::kEv2));
    r.amount = 30;
    r.defer_commit = defer;
    r.tmac = {.key_name = key, .reader_id = std::move(reader_id)};
    return Debit(ctx_, r);
  }
};

TEST_F(TransactionMacTest, DebitCommitsTheReaderIdAndVerifies) {
  ASSERT_TRUE(CreateTmacFile("tmac").ok());
  EXPECT_EQ(SimFile(kTransitAid, kTmacFile).tmac_key,
            test_util::Hex("f7d23e0c44afade542bfdf2dc5c6ae02"));
  EXPECT_EQ(SimFile(kTransitAid, kTmacFile).tmac_key_version, 2);
  for (uint32_t round = 1; round <= 2; ++round) {
    absl::StatusOr<ValueChange> d = DebitWithMac("tmac", kReaderId);
    ASSERT_TRUE(d.ok()) << d.status();
    ASSERT_TRUE(d->transaction_mac.has_value());
    EXPECT_EQ(d->transaction_mac->tmc, round);
    EXPECT_EQ(d->transaction_mac->tmv, SimFile(kTransitAid, kTmacFile).tmv);
    EXPECT_EQ(d->transaction_mac->reader_id, kReaderId);
    EXPECT_TRUE(d->transaction_mac->verified);
    EXPECT_EQ(d->reader_id, kReaderId);
  }
  EXPECT_EQ(SimValue(), 2500 - 60);
}

// Verified with another key than the card's: committed, not verified.
TEST_F(TransactionMacTest, AnotherKeyDoesNotVerify) {
  ASSERT_TRUE(CreateTmacFile("tmac").ok());
  absl::StatusOr<ValueChange> d = DebitWithMac("tmac_other", kReaderId);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->committed);
  ASSERT_TRUE(d->transaction_mac.has_value());
  EXPECT_FALSE(d->transaction_mac->verified);
  EXPECT_TRUE(d->transaction_mac->unverified_reason.empty());
  EXPECT_EQ(SimValue(), 2470);
}

TEST_F(TransactionMacTest, BadRequestsSendNothing) {
  ASSERT_TRUE(CreateTmacFile("tmac").ok());
  const size_t sent = transport_->transmitted();
  EXPECT_EQ(Field(DebitWithMac("tmac", Bytes(15, 1)).status()), "reader_id");
  EXPECT_EQ(Field(DebitWithMac("tmac_des", kReaderId).status()), "tmac_key");
  EXPECT_EQ(Field(DebitWithMac("tmac", kReaderId, /*defer=*/true).status()), "defer_commit");
  EXPECT_EQ(Reason(DebitWithMac("no_such_key", kReaderId).status()), "KEY_NOT_FOUND");
  EXPECT_EQ(transport_->transmitted(), sent);
  EXPECT_EQ(Field(CreateTmacFile("")), "tmac_key");
  EXPECT_EQ(SimValue(), 2500);
}

// CommitReaderID is enabled: a debit without a reader id is refused by the card at the commit.
TEST_F(TransactionMacTest, CommitWithoutReaderIdIsRefused) {
  ASSERT_TRUE(CreateTmacFile("tmac").ok());
  absl::StatusOr<ValueChange> d = DebitWithMac("tmac", {});
  EXPECT_EQ(d.status().code(), absl::StatusCode::kPermissionDenied) << d.status();
  EXPECT_EQ(apdu::GetCommitState(d.status()), apdu::CommitState::kNotCommitted);
  EXPECT_EQ(SimValue(), 2500);
}

}  // namespace
}  // namespace desfired::cardops
