// The card path of core/pcsc (PcscContext, PcscCard, PcscTransaction) against a real,
// sandboxed pcscd: recovery after pcscd was killed and started again, and transactions on
// shared connections.
//
// Every wait has a time-out; nothing sleeps. One sandbox per process (libpcsclite reads
// PCSCLITE_CSOCK_NAME once): ctest runs each test in its own process.
#include <csignal>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/apdu/status_payload.h"
#include "core/pcsc/pcsc.h"
#include "core/util/bytes.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"

namespace desfired {
namespace {

using pcsc::PcscCard;
using pcsc::PcscContext;
using pcsc::PcscTransaction;
using pcsc::ShareMode;

constexpr absl::Duration kEventTimeout = absl::Seconds(3);
constexpr absl::Duration kRestartTimeout = absl::Seconds(5);
const std::string kImages = std::string(SOURCE_DIR) + "/sim/images/";

// Native DESFire frames, ISO-wrapped (90 INS 00 00 [Lc data] 00).
const Bytes kGetVersion = {0x90, 0x60, 0x00, 0x00, 0x00};
const Bytes kAdditionalFrame = {0x90, 0xAF, 0x00, 0x00, 0x00};

std::string Sw(const Bytes& reply) {
  return reply.size() < 2 ? "short" : HexEncode(ByteSpan(reply).subspan(reply.size() - 2));
}

class PcscCardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::SandboxOptions options;
    options.sim_binary = DESFIRE_SIM;
    auto sandbox =
        testing::PcscSandbox::StartWithCards(options, {kImages + "transit.json"}, kEventTimeout);
    if (sandbox.status().code() == absl::StatusCode::kPermissionDenied) {
      GTEST_SKIP() << "needs root: " << sandbox.status();
    }
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = std::move(*sandbox);
  }

  std::string Reader() const { return sandbox_->ReaderName(0); }

  // Once the card is on reader 0 again, a new connection through `context` answers the first
  // frame of GetVersion with 91 AF.
  void ExpectCardAnswers(PcscContext& context) {
    ASSERT_TRUE(sandbox_->WaitForCard(0, true, kRestartTimeout).ok());
    auto card = context.Connect(Reader());
    ASSERT_TRUE(card.ok()) << card.status();
    auto version = (*card)->Transmit(kGetVersion);
    ASSERT_TRUE(version.ok()) << version.status();
    EXPECT_EQ(Sw(*version), "91af");
  }

  // Two programs sharing the card: each a context of its own and a shared connection in it.
  struct TwoPrograms {
    std::unique_ptr<PcscContext> mine_context;
    std::unique_ptr<PcscContext> other_context;
    std::unique_ptr<PcscCard> mine;
    std::unique_ptr<PcscCard> other;
  };
  void ConnectTwoPrograms(TwoPrograms* p) {
    auto mine_context = PcscContext::Create();
    auto other_context = PcscContext::Create();
    ASSERT_TRUE(mine_context.ok() && other_context.ok());
    p->mine_context = *std::move(mine_context);
    p->other_context = *std::move(other_context);
    auto mine = p->mine_context->Connect(Reader(), ShareMode::kShared);
    ASSERT_TRUE(mine.ok()) << mine.status();
    p->mine = *std::move(mine);
    auto other = p->other_context->Connect(Reader(), ShareMode::kShared);
    ASSERT_TRUE(other.ok()) << other.status();
    p->other = *std::move(other);
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
};

// After pcscd was killed and started again, the same PcscContext lists readers and connects
// (it re-establishes itself), and GetVersion answers its first frame with 91 AF.
TEST_F(PcscCardTest, ConnectWorksAfterPcscdRestart) {
  auto context = PcscContext::Create();
  ASSERT_TRUE(context.ok()) << context.status();
  auto before = (*context)->Connect(Reader());
  ASSERT_TRUE(before.ok()) << before.status();
  auto version = (*before)->Transmit(kGetVersion);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(Sw(*version), "91af");

  ASSERT_TRUE(sandbox_->RestartPcscd(SIGKILL).ok());

  // The card connected through the old pcscd is gone for good.
  auto stale = (*before)->Transmit(kGetVersion);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kUnavailable) << stale.status();
  before->reset();

  auto readers = (*context)->ListReaders();
  ASSERT_TRUE(readers.ok()) << readers.status();
  ASSERT_TRUE(sandbox_->WaitForReaders(2, kEventTimeout).ok());
  ASSERT_TRUE(sandbox_->WaitForCard(0, true, kRestartTimeout).ok());
  auto after = (*context)->Connect(Reader());
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(HexEncode(*(*after)->Uid()), "04a1b2c3d4e5f6");
  version = (*after)->Transmit(kGetVersion);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(Sw(*version), "91af");
}

// The first call after the restart is a Connect (no ListReaders in between).
TEST_F(PcscCardTest, FirstCallAfterRestartIsConnect) {
  auto context = PcscContext::Create();
  ASSERT_TRUE(context.ok()) << context.status();
  ASSERT_TRUE(sandbox_->RestartPcscd(SIGKILL).ok());
  ASSERT_NO_FATAL_FAILURE(ExpectCardAnswers(**context));
}

// While pcscd is away Connect gives up with PCSC_UNAVAILABLE after its back-off; once pcscd is
// back the same context works again.
TEST_F(PcscCardTest, ConnectWhilePcscdIsAwayIsUnavailable) {
  auto context = PcscContext::Create({.reconnect_attempts = 2});
  ASSERT_TRUE(context.ok()) << context.status();
  ASSERT_TRUE(sandbox_->KillPcscd().ok());
  auto card = (*context)->Connect(Reader());
  ASSERT_FALSE(card.ok());
  EXPECT_EQ(card.status().code(), absl::StatusCode::kUnavailable) << card.status();
  EXPECT_EQ(apdu::GetReason(card.status()), std::string(pcsc::kReasonPcscUnavailable));

  ASSERT_TRUE(sandbox_->StartPcscd().ok());
  ASSERT_NO_FATAL_FAILURE(ExpectCardAnswers(**context));
}

// A card that never answers blocks SCardTransmit (no time-out, SCardCancel does not help);
// pcscd going away ends the wait with PCSC_UNAVAILABLE, and the context recovers.
TEST_F(PcscCardTest, TransmitBlockedWhenPcscdDiesIsUnavailable) {
  auto context = PcscContext::Create();
  ASSERT_TRUE(context.ok()) << context.status();
  auto card = (*context)->Connect(Reader());
  ASSERT_TRUE(card.ok()) << card.status();
  ASSERT_TRUE(sandbox_->Control(0, "hang 1").ok());
  absl::Mutex mu;
  bool returned = false;  // guarded by mu
  absl::Status status;    // guarded by mu
  std::thread blocked([&] {
    absl::Status s = (*card)->Transmit(kGetVersion).status();
    absl::MutexLock lock(&mu);
    status = s;
    returned = true;
  });
  // The card reports the hang once it has the APDU.
  const absl::Time deadline = absl::Now() + kEventTimeout;
  bool hung = false;
  while (!hung && absl::Now() < deadline) {
    auto reply = sandbox_->Control(0, "status");
    hung = reply.ok() && reply->find("hung=1") != std::string::npos;
  }
  ASSERT_TRUE(hung);
  ASSERT_TRUE(sandbox_->KillPcscd().ok());
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&returned), kEventTimeout));
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_EQ(apdu::GetReason(status), std::string(pcsc::kReasonPcscUnavailable)) << status;
  }
  blocked.join();
  card->reset();

  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());  // ends the hang
  ASSERT_TRUE(sandbox_->Control(0, "insert").ok());
  ASSERT_TRUE(sandbox_->StartPcscd().ok());
  ASSERT_NO_FATAL_FAILURE(ExpectCardAnswers(**context));
}

// Transmit on a thread of its own: pcsc-lite makes a Transmit from another connection wait
// (it retries while the card is in someone else's transaction), so the test must not block.
class BackgroundTransmit {
 public:
  BackgroundTransmit(PcscCard& card, Bytes apdu)
      : thread_([this, &card, apdu] {
          absl::StatusOr<Bytes> reply = card.Transmit(apdu);
          absl::MutexLock lock(&mu_);
          reply_ = std::move(reply);
          returned_ = absl::Now();
        }) {}
  ~BackgroundTransmit() { Join(); }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  absl::StatusOr<Bytes> reply() {
    absl::MutexLock lock(&mu_);
    return reply_;
  }
  absl::Time returned() {
    absl::MutexLock lock(&mu_);
    return returned_;
  }

 private:
  absl::Mutex mu_;
  absl::StatusOr<Bytes> reply_ ABSL_GUARDED_BY(mu_) = absl::UnknownError("not run");
  absl::Time returned_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::thread thread_;  // last: starts after the fields above exist
};

// Two programs share the card. While one holds a transaction for its three-frame GetVersion,
// the other's APDU waits instead of landing inside the chain (which the card would answer
// with 91 1C); after End it goes through.
TEST_F(PcscCardTest, TransactionKeepsOthersOut) {
  TwoPrograms p;
  ASSERT_NO_FATAL_FAILURE(ConnectTwoPrograms(&p));
  // An exclusive connection is refused while shared ones are open.
  auto exclusive = p.other_context->Connect(Reader());
  ASSERT_FALSE(exclusive.ok());
  EXPECT_EQ(apdu::GetReason(exclusive.status()), std::string(pcsc::kReasonReaderBusy));

  auto transaction = p.mine->BeginTransaction();
  ASSERT_TRUE(transaction.ok()) << transaction.status();
  EXPECT_TRUE(transaction->active());

  auto first = p.mine->Transmit(kGetVersion);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(Sw(*first), "91af");
  BackgroundTransmit intruder(*p.other, kGetVersion);
  auto second = p.mine->Transmit(kAdditionalFrame);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(Sw(*second), "91af");
  auto third = p.mine->Transmit(kAdditionalFrame);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(Sw(*third), "9100");  // the chain was not broken

  const absl::Time ended = absl::Now();
  ASSERT_TRUE(transaction->End().ok());
  EXPECT_FALSE(transaction->active());
  EXPECT_TRUE(transaction->End().ok());  // ending twice is harmless
  intruder.Join();
  ASSERT_TRUE(intruder.reply().ok()) << intruder.reply().status();
  EXPECT_EQ(Sw(*intruder.reply()), "91af");
  EXPECT_GE(intruder.returned(), ended);
}

// The other side's BeginTransaction waits until ours ends.
TEST_F(PcscCardTest, BeginTransactionWaitsForTheHolder) {
  TwoPrograms p;
  ASSERT_NO_FATAL_FAILURE(ConnectTwoPrograms(&p));
  auto transaction = p.mine->BeginTransaction();
  ASSERT_TRUE(transaction.ok()) << transaction.status();

  absl::Mutex mu;
  absl::Time acquired = absl::InfiniteFuture();               // guarded by mu
  absl::Status other_status = absl::UnknownError("not run");  // guarded by mu
  std::thread waiter([&] {
    auto t = p.other->BeginTransaction();
    absl::MutexLock lock(&mu);
    acquired = absl::Now();
    other_status = t.status();
  });
  auto version = p.mine->Transmit(kGetVersion);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(Sw(*version), "91af");
  const absl::Time ended = absl::Now();
  ASSERT_TRUE(transaction->End().ok());
  waiter.join();
  absl::MutexLock lock(&mu);
  ASSERT_TRUE(other_status.ok()) << other_status;
  EXPECT_GE(acquired, ended);
}

// The guard ends the transaction at the end of its scope, and a moved guard ends it once.
TEST_F(PcscCardTest, TransactionEndsWithItsScope) {
  TwoPrograms p;
  ASSERT_NO_FATAL_FAILURE(ConnectTwoPrograms(&p));
  std::unique_ptr<BackgroundTransmit> intruder;
  absl::Time ended;
  {
    auto transaction = p.mine->BeginTransaction();
    ASSERT_TRUE(transaction.ok()) << transaction.status();
    PcscTransaction moved = *std::move(transaction);
    EXPECT_TRUE(moved.active());
    EXPECT_FALSE(transaction->active());  // NOLINT(bugprone-use-after-move): moved-from state
    intruder = std::make_unique<BackgroundTransmit>(*p.other, kGetVersion);
    auto version = p.mine->Transmit(kGetVersion);
    ASSERT_TRUE(version.ok()) << version.status();
    ended = absl::Now();
  }
  intruder->Join();
  ASSERT_TRUE(intruder->reply().ok()) << intruder->reply().status();
  EXPECT_GE(intruder->returned(), ended);

  // On an exclusive connection a transaction is allowed too.
  p.other.reset();
  p.mine.reset();
  auto exclusive = p.mine_context->Connect(Reader());
  ASSERT_TRUE(exclusive.ok()) << exclusive.status();
  auto transaction = (*exclusive)->BeginTransaction();
  ASSERT_TRUE(transaction.ok()) << transaction.status();
  auto version = (*exclusive)->Transmit(kGetVersion);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(Sw(*version), "91af");
}

}  // namespace
}  // namespace desfired
