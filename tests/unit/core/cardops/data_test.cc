// ReadData and WriteData (data.h) over the emulated transit card: plain, MACed and enciphered
// files, standard and backup files, deferred commits.
#include "core/cardops/data.h"

#include <string>

#include "core/cardops/transactions.h"
#include "gtest/gtest.h"
#include "tests/unit/core/cardops/fixture.h"

namespace desfired::cardops {
namespace {

TEST_F(CardOpsTest, ReadDataPlainWithoutKeyAndFullAndMacWithKey) {
  auto plain = On<ReadDataRequest>();
  plain.file_no = 4;
  auto issuer = ReadData(ctx_, plain);
  ASSERT_TRUE(issuer.ok()) << issuer.status();
  EXPECT_EQ(Str(*issuer), std::string("desfired demo issuer, not valid\0", 32));

  auto full = OnFile<ReadDataRequest>(5, Key("app_read", 1));
  auto secret = ReadData(ctx_, full);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, Hex("5345435245540000000102030405060708090a0b0c0d0e0f1011121314151617"));
  full.offset = 8;
  full.length = 4;
  auto part = ReadData(ctx_, full);
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_EQ(*part, Hex("00010203"));

  auto mac = OnFile<ReadDataRequest>(2, Key("app_read", 1));
  auto profile = ReadData(ctx_, mac);
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(Str(*profile), "DESFIRED DEMO TRANSIT PROFILE 01");

  // The full file without a key: the card wants a session.
  auto no_key = On<ReadDataRequest>();
  no_key.file_no = 5;
  auto refused = ReadData(ctx_, no_key);
  EXPECT_FALSE(refused.ok());
  EXPECT_FALSE(ctx_.session.open);  // a failed call starts the next one afresh
}

TEST_F(CardOpsTest, WriteDataToFullStandardFile) {
  auto write = OnFile<WriteDataRequest>(5, Key("app_master", 0));
  write.offset = 3;
  write.data = Pattern(20, 0x40);
  write.defer_commit = true;  // ignored by standard files
  auto written = WriteData(ctx_, write);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(written->committed);
  EXPECT_FALSE(ctx_.session.pending);

  auto read = OnFile<ReadDataRequest>(5, Key("app_read", 1));
  read.offset = 3;
  read.length = 20;
  auto back = ReadData(ctx_, read);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, Pattern(20, 0x40));
  const Bytes& stored = SimFile(kTransitAid, 5).data;
  EXPECT_EQ(Bytes(stored.begin() + 3, stored.begin() + 23), Pattern(20, 0x40));
}

TEST_F(CardOpsTest, WriteDataToBackupFileCommitsUnlessDeferred) {
  auto write = OnFile<WriteDataRequest>(2, Key("app_debit", 2));
  write.data = BytesOf("NEW");
  auto written = WriteData(ctx_, write);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(written->committed);
  EXPECT_EQ(Str(SimFile(kTransitAid, 2).data).substr(0, 8), "NEWFIRED");

  write.data = BytesOf("XYZ");
  write.defer_commit = true;
  auto deferred = WriteData(ctx_, write);
  ASSERT_TRUE(deferred.ok()) << deferred.status();
  EXPECT_FALSE(deferred->committed);
  EXPECT_TRUE(ctx_.session.pending);
  EXPECT_EQ(Str(SimFile(kTransitAid, 2).data).substr(0, 3), "NEW");  // not yet

  const TransactionRequest commit = DebitTransaction();
  auto committed = CommitTransaction(ctx_, commit);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_TRUE(*committed);
  EXPECT_EQ(Str(SimFile(kTransitAid, 2).data).substr(0, 3), "XYZ");
  // Nothing left to commit.
  auto again = CommitTransaction(ctx_, commit);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(*again);
}

}  // namespace
}  // namespace desfired::cardops
