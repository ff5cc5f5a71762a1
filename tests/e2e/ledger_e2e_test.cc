// The audit ledger and idempotent changes end to end: desfired (in process, or the binary when
// a test kills it) on loopback, a sandboxed pcscd with the transit card from desfire-sim, and
// the ledger file in a private data directory. docs/ledger.md states the rules tested here.
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/ledger/ledger.h"
#include "desfired/v1/card.grpc.pb.h"
#include "google/rpc/error_details.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"

namespace desfired {
namespace {

using testing::Ctx;
using testing::InfoOf;
using testing::kTransitAid;
using testing::ReadFile;

// The transit keys (tests/testing/transit_keys.h) and a DES key, of the wrong type for the
// transit application.
std::string KeyFile() {
  return absl::StrCat(testing::kTransitKeyFile, "key des-key        DES    0011223344556677\n");
}

// The desfired binary listening on 127.0.0.1 (a port of its own), and a CardService stub on it.
class LedgerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
    reader_ = sandbox_->ReaderName(0);
    absl::StatusOr<std::string> keys = testing::WriteKeyFile(sandbox_->dir(), KeyFile());
    ASSERT_TRUE(keys.ok()) << keys.status();
    key_path_ = *keys;
    data_dir_ = absl::StrCat(sandbox_->dir(), "/data");
    ASSERT_EQ(::mkdir(data_dir_.c_str(), 0700), 0);
    ledger_path_ = data_dir_ + "/ledger.sqlite";
  }

  std::vector<std::string> Flags() const {
    // A short grace: this test's idle client connection does not read the server's GOAWAY
    // (a synchronous gRPC client polls only during a call), so SIGTERM waits the whole grace.
    return {"--keys=" + key_path_, "--data_dir=" + data_dir_, "--shutdown_grace=1s",
            absl::StrCat("--pcsc_socket=", sandbox_->dir(), "/run/pcscd.comm")};
  }

  void StartInProcess() {
    server::ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.keys_file = key_path_;
    config.data_dir = data_dir_;
    auto server = server::DesfiredServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = testing::LoopbackChannel(server_->port());
    cards_ = v1::CardService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  v1::DebitRequest DebitReq(int32_t amount, const std::string& request_id) const {
    return testing::TransitDebit(reader_, amount, request_id);
  }

  // The value, read with the read key (-1 on error).
  int32_t Value(v1::CardService::Stub& cards) const {
    return testing::TransitValue(cards, reader_);
  }

  // The value, retried while the card settles into the field (the first exchange right after an
  // insertion may fail); -1 (and a test failure) when it never answers.
  int32_t SettledValue(v1::CardService::Stub& cards) const {
    v1::GetValueResponse value;
    grpc::Status s;
    for (int i = 0; i < 30; ++i) {
      s = cards.GetValue(Ctx().get(), testing::TransitGetValue(reader_), &value);
      if (s.ok()) return value.value();
      absl::SleepFor(absl::Milliseconds(100));
    }
    ADD_FAILURE() << s.error_message();
    return -1;
  }

  // The APDUs the card on reader 0 has received so far (desfire-sim's `status`).
  int64_t Apdus() {
    absl::StatusOr<std::string> status = sandbox_->Control(0, "status");
    EXPECT_TRUE(status.ok()) << status.status();
    if (!status.ok()) return -1;
    const size_t at = status->find("apdus=");
    int64_t n = -1;
    if (at != std::string::npos) {
      const std::string rest = status->substr(at + 6);
      EXPECT_TRUE(absl::SimpleAtoi(rest.substr(0, rest.find(' ')), &n)) << *status;
    }
    return n;
  }

  // The newest ledger row of `request_id`, read from the file read-only (desfired may hold it).
  // Waits until ListReaders reports no card on reader_; false after `timeout`.
  bool ServerSeesNoCard(absl::Duration timeout) const {
    const absl::Time until = absl::Now() + timeout;
    while (absl::Now() < until) {
      v1::ListReadersResponse readers;
      if (cards_->ListReaders(Ctx().get(), {}, &readers).ok()) {
        bool present = false;
        for (const v1::Reader& r : readers.readers())
          if (r.name() == reader_ && r.card_present()) present = true;
        if (!present) return true;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  std::optional<ledger::Row> Latest(const std::string& request_id) const {
    auto row = ledger::Ledger::LatestInFile(ledger_path_, request_id);
    EXPECT_TRUE(row.ok()) << row.status();
    return row.ok() ? *row : std::nullopt;
  }

  // Waits until the newest row of `request_id` is a RECONCILED one.
  std::optional<ledger::Row> WaitReconciled(const std::string& request_id) const {
    for (int i = 0; i < 300; ++i) {
      std::optional<ledger::Row> row = Latest(request_id);
      if (row.has_value() && row->event == ledger::Event::kReconciled) return row;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return Latest(request_id);
  }

  // Runs a desfired with `crash_flag` (--testing_crash_after_commit or _before_commit) and
  // sends it a Debit of `amount` under `request_id`: the call fails and desfired exits with 86.
  // `*start` is the value read before the debit.
  void CrashDuringDebit(const std::string& crash_flag, int32_t amount,
                        const std::string& request_id, int32_t* start) {
    std::vector<std::string> crash_flags = Flags();
    crash_flags.push_back(crash_flag);
    testing::LoopbackDesfired crashing(sandbox_->dir(), crash_flags);
    ASSERT_GT(crashing.port(), 0) << crashing.err();
    *start = Value(crashing.cards());
    v1::DebitResponse resp;
    grpc::Status s = crashing.cards().Debit(Ctx().get(), DebitReq(amount, request_id), &resp);
    EXPECT_FALSE(s.ok()) << "the server answered although it crashed";
    EXPECT_EQ(crashing.Wait(), 86) << crashing.err();
  }

  // The retry of the Debit of `amount` under `request_id` on `server` is replayed with the value
  // after `value`, which the card holds; then `server` stops and the ledger (with its head
  // file) verifies.
  void ExpectReplayedThenVerify(testing::LoopbackDesfired& server, int32_t amount,
                                const std::string& request_id, int32_t value) {
    v1::DebitResponse retry;
    grpc::Status s = server.cards().Debit(Ctx().get(), DebitReq(amount, request_id), &retry);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(retry.change().replayed());
    EXPECT_EQ(retry.change().value_after(), value);
    EXPECT_EQ(Value(server.cards()), value);
    EXPECT_EQ(server.Stop(), 0);
    auto verified = ledger::Ledger::VerifyFile(ledger_path_, ledger::HeadFilePathFor(ledger_path_));
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_TRUE(verified->ok) << verified->problem;
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::string reader_;
  std::string key_path_;
  std::string data_dir_;
  std::string ledger_path_;
  std::unique_ptr<server::DesfiredServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CardService::Stub> cards_;
};

// A WatchCards stream opened (its snapshot read, so that it is subscribed) with or without the
// change outcomes.
std::unique_ptr<grpc::ClientReader<v1::WatchCardsResponse>> Watch(v1::CardService::Stub& cards,
                                                                  grpc::ClientContext* ctx,
                                                                  bool include_changes) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  v1::WatchCardsRequest request;
  request.set_include_changes(include_changes);
  std::unique_ptr<grpc::ClientReader<v1::WatchCardsResponse>> stream =
      cards.WatchCards(ctx, request);
  v1::WatchCardsResponse first;
  EXPECT_TRUE(stream->Read(&first));
  EXPECT_TRUE(first.has_snapshot()) << first.DebugString();
  return stream;
}

// A retry with the same request_id (the client lost the first reply) is answered from the
// ledger: replayed, the same values, and the card is debited once. A watcher that asks for
// change outcomes sees the debit COMMITTED, then its retry REPLAYED (a refused reuse of the id
// is no change); a watcher that does not ask sees neither.
TEST_F(LedgerE2eTest, RetriedDebitChangesTheCardOnce) {
  StartInProcess();
  grpc::ClientContext with_ctx;
  grpc::ClientContext without_ctx;
  auto with_changes = Watch(*cards_, &with_ctx, /*include_changes=*/true);
  auto without_changes = Watch(*cards_, &without_ctx, /*include_changes=*/false);
  const int32_t start = Value(*cards_);
  ASSERT_GT(start, 10);

  v1::DebitResponse first;
  grpc::Status s = cards_->Debit(Ctx().get(), DebitReq(7, "debit-once-1"), &first);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(first.change().replayed());
  EXPECT_EQ(first.change().value_after(), start - 7);

  v1::DebitResponse retry;
  s = cards_->Debit(Ctx().get(), DebitReq(7, "debit-once-1"), &retry);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(retry.change().replayed());
  EXPECT_EQ(retry.change().value_before(), start);
  EXPECT_EQ(retry.change().value_after(), start - 7);
  EXPECT_EQ(Value(*cards_), start - 7) << "the retry debited the card again";

  // The same id for another request is refused, and changes nothing.
  v1::DebitResponse other;
  s = cards_->Debit(Ctx().get(), DebitReq(8, "debit-once-1"), &other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(InfoOf(s).reason(), "REQUEST_ID_REUSED") << s.error_message();
  EXPECT_EQ(Value(*cards_), start - 7);

  // A new id is a new debit; no id is never deduplicated.
  s = cards_->Debit(Ctx().get(), DebitReq(1, "debit-once-2"), &other);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = cards_->Debit(Ctx().get(), DebitReq(1, ""), &other);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = cards_->Debit(Ctx().get(), DebitReq(1, ""), &other);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Value(*cards_), start - 10);

  // Every change is in the ledger, the chain verifies.
  auto verified = ledger::Ledger::VerifyFile(ledger_path_);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok) << verified->problem;
  std::optional<ledger::Row> row = Latest("debit-once-1");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->event, ledger::Event::kDone);
  EXPECT_EQ(row->outcome, "OK");
  EXPECT_EQ(row->method, "Debit");
  EXPECT_EQ(row->uid, "04a1b2c3d4e5f6");
  EXPECT_EQ(row->reader, reader_);
  EXPECT_EQ(row->amount, 7);
  EXPECT_EQ(row->value_before, start);
  EXPECT_EQ(row->value_after, start - 7);
  EXPECT_GT(row->pending_seq, 0) << "no PENDING row before the commit";

  // The change outcomes, in order: published before each answer, so all are there by now.
  struct Seen {
    v1::ChangeEvent::Outcome outcome;
    std::string request_id;
  };
  const Seen expected[] = {{v1::ChangeEvent::COMMITTED, "debit-once-1"},
                           {v1::ChangeEvent::REPLAYED, "debit-once-1"},
                           {v1::ChangeEvent::COMMITTED, "debit-once-2"},
                           {v1::ChangeEvent::COMMITTED, ""},
                           {v1::ChangeEvent::COMMITTED, ""}};
  uint64_t last_sequence = 0;
  for (const Seen& want : expected) {
    v1::WatchCardsResponse item;
    ASSERT_TRUE(with_changes->Read(&item));
    ASSERT_TRUE(item.has_change()) << item.DebugString();
    const v1::ChangeEvent& change = item.change();
    EXPECT_EQ(change.outcome(), want.outcome) << change.DebugString();
    EXPECT_EQ(change.request_id(), want.request_id) << change.DebugString();
    EXPECT_EQ(change.method(), "Debit");
    EXPECT_EQ(change.reader(), reader_);
    EXPECT_TRUE(change.has_time());
    EXPECT_GT(change.sequence(), last_sequence);
    last_sequence = change.sequence();
    ASSERT_TRUE(change.has_ledger_seq()) << change.DebugString();
    if (want.request_id == "debit-once-1") {
      // The DONE row of the first call: the retry was answered from it.
      EXPECT_EQ(change.ledger_seq(), row->seq);
      EXPECT_EQ(change.amount(), 7);
    }
  }
  // The watcher without changes gets the next card event and nothing before it.
  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
  v1::WatchCardsResponse item;
  ASSERT_TRUE(without_changes->Read(&item));
  EXPECT_TRUE(item.has_event()) << "a watcher without include_changes got " << item.DebugString();
  EXPECT_EQ(item.event().kind(), v1::CardEvent::CARD_REMOVED);
  with_ctx.TryCancel();
  without_ctx.TryCancel();
}

// Two calls with the same id at once: one changes the card, the other is told to retry (or,
// when it comes after, replays); the card is debited once.
TEST_F(LedgerE2eTest, ConcurrentCallsWithOneIdDebitOnce) {
  StartInProcess();
  const int32_t start = Value(*cards_);
  std::vector<grpc::Status> results(4);
  std::vector<v1::DebitResponse> responses(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      results[i] = cards_->Debit(Ctx().get(), DebitReq(3, "concurrent-1"), &responses[i]);
    });
  }
  for (std::thread& t : threads) t.join();
  int fresh = 0;
  for (int i = 0; i < 4; ++i) {
    if (results[i].ok()) {
      fresh += responses[i].change().replayed() ? 0 : 1;
    } else {
      EXPECT_EQ(InfoOf(results[i]).reason(), "REQUEST_IN_PROGRESS") << results[i].error_message();
    }
  }
  EXPECT_EQ(fresh, 1);
  EXPECT_EQ(Value(*cards_), start - 3);
}

// The card commits, its answer is lost (the card leaves the field just after): the call fails
// with commit state UNKNOWN; the retry with the same id, card back, reads the value, finds the
// change made and replays it — the card is debited once.
TEST_F(LedgerE2eTest, LostCommitAnswerIsSettledByTheRetry) {
  StartInProcess();
  const int32_t start = Value(*cards_);
  ASSERT_EQ(*sandbox_->Control(0, "lose C7"), "ok");
  v1::DebitResponse lost;
  grpc::Status s = cards_->Debit(Ctx().get(), DebitReq(5, "lost-answer-1"), &lost);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(InfoOf(s).metadata().at("commit_state"), "UNKNOWN") << s.error_message();

  // A retry while the card is away cannot settle it and changes nothing.
  v1::DebitResponse early;
  s = cards_->Debit(Ctx().get(), DebitReq(5, "lost-answer-1"), &early);
  EXPECT_FALSE(s.ok());

  ASSERT_EQ(*sandbox_->Control(0, "insert"), "ok");
  ASSERT_TRUE(sandbox_->WaitForCard(0, true, absl::Seconds(3)).ok());
  // Like any client: retry (same id) while the card is settling into the field — the first
  // exchange right after an insertion may fail with CARD_REMOVED. The change is settled by a
  // retry or, just before it, on the card's insertion.
  v1::DebitResponse retry;
  for (int i = 0; i < 30; ++i) {
    s = cards_->Debit(Ctx().get(), DebitReq(5, "lost-answer-1"), &retry);
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(retry.change().replayed());
  EXPECT_EQ(retry.change().value_after(), start - 5);
  EXPECT_EQ(Value(*cards_), start - 5);
  std::optional<ledger::Row> row = Latest("lost-answer-1");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->event, ledger::Event::kReconciled);
  EXPECT_EQ(row->outcome, "COMMITTED");
}

// An empty reader is NO_CARD (FAILED_PRECONDITION: present a card), and a change refused for
// it says NOT_COMMITTED, in the answer and in its ledger row. A card that leaves during the
// call is CARD_REMOVED.
TEST_F(LedgerE2eTest, EmptyReaderIsNoCardAndTheChangeIsNotCommitted) {
  StartInProcess();
  const int32_t start = Value(*cards_);
  ASSERT_EQ(*sandbox_->Control(0, "remove"), "ok");
  ASSERT_TRUE(sandbox_->WaitForCard(0, false, absl::Seconds(3)).ok());
  // Until the server has seen the removal, a call may still meet the removed card's connection
  // (CARD_REMOVED, card_session.h); once ListReaders shows the reader empty, it must not.
  ASSERT_TRUE(ServerSeesNoCard(absl::Seconds(5)));

  v1::GetValueResponse value;
  grpc::Status s = cards_->GetValue(Ctx().get(), testing::TransitGetValue(reader_), &value);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_EQ(InfoOf(s).reason(), "NO_CARD");

  v1::DebitResponse debit;
  s = cards_->Debit(Ctx().get(), DebitReq(5, "no-card-1"), &debit);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_EQ(InfoOf(s).reason(), "NO_CARD");
  ASSERT_EQ(InfoOf(s).metadata().count("commit_state"), 1u) << s.error_message();
  EXPECT_EQ(InfoOf(s).metadata().at("commit_state"), "NOT_COMMITTED");
  std::optional<ledger::Row> row = Latest("no-card-1");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->event, ledger::Event::kDone);
  EXPECT_EQ(row->reason, "NO_CARD");
  EXPECT_EQ(row->commit_state, "NOT_COMMITTED");

  // The card comes back; torn away during the next call: CARD_REMOVED.
  ASSERT_EQ(*sandbox_->Control(0, "insert"), "ok");
  ASSERT_TRUE(sandbox_->WaitForCard(0, true, absl::Seconds(3)).ok());
  EXPECT_EQ(SettledValue(*cards_), start);
  ASSERT_EQ(*sandbox_->Control(0, "tear 1"), "ok");  // the GetValue: its session is open
  s = cards_->GetValue(Ctx().get(), testing::TransitGetValue(reader_), &value);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(InfoOf(s).reason(), "CARD_REMOVED");
}

// The card leaves after it confirmed the debit's commit and before the read of the value
// after: the answer is committed with the value after derived from the value before and the
// amount, and the replay (same request_id, card gone) says the same.
TEST_F(LedgerE2eTest, LostReadAfterTheCommitIsDerived) {
  StartInProcess();
  const int32_t start = Value(*cards_);
  v1::DebitResponse debit;
  ASSERT_TRUE(cards_->Debit(Ctx().get(), DebitReq(1, "warm-1"), &debit).ok());
  // A debit in the same session as the one before it: its APDUs, the last one the read after.
  const int64_t before = Apdus();
  ASSERT_TRUE(cards_->Debit(Ctx().get(), DebitReq(1, "warm-2"), &debit).ok());
  const int64_t per_debit = Apdus() - before;
  ASSERT_GT(per_debit, 3);
  ASSERT_TRUE(debit.change().has_value_after());
  EXPECT_FALSE(debit.change().value_after_derived());
  EXPECT_EQ(debit.change().value_after(), start - 2);

  ASSERT_EQ(*sandbox_->Control(0, absl::StrCat("tear ", per_debit)), "ok");
  grpc::Status s = cards_->Debit(Ctx().get(), DebitReq(5, "lost-read-1"), &debit);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(debit.change().committed());
  EXPECT_EQ(debit.change().value_before(), start - 2);
  ASSERT_TRUE(debit.change().has_value_after()) << "the read after the commit was lost";
  EXPECT_EQ(debit.change().value_after(), start - 7);
  EXPECT_TRUE(debit.change().value_after_derived());
  std::optional<ledger::Row> row = Latest("lost-read-1");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->event, ledger::Event::kDone);
  EXPECT_EQ(row->value_after, start - 7);

  ASSERT_TRUE(sandbox_->WaitForCard(0, false, absl::Seconds(3)).ok());
  v1::DebitResponse replay;
  s = cards_->Debit(Ctx().get(), DebitReq(5, "lost-read-1"), &replay);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(replay.change().replayed());
  ASSERT_TRUE(replay.change().has_value_after());
  EXPECT_EQ(replay.change().value_after(), start - 7);
  EXPECT_TRUE(replay.change().value_after_derived());

  // And the card holds it.
  ASSERT_EQ(*sandbox_->Control(0, "insert"), "ok");
  ASSERT_TRUE(sandbox_->WaitForCard(0, true, absl::Seconds(3)).ok());
  EXPECT_EQ(SettledValue(*cards_), start - 7);
}

// desfired dies between the card's commit and the ledger's DONE row. The next desfired finds
// the PENDING row at start-up and settles it when it sees the card (here: at once, the card is
// on the reader) — COMMITTED; the client's retry then replays, and the card is debited once.
TEST_F(LedgerE2eTest, CrashAfterCommitIsReconciledOnRestart) {
  int32_t start = 0;
  ASSERT_NO_FATAL_FAILURE(
      CrashDuringDebit("--testing_crash_after_commit", 9, "crash-after-1", &start));
  std::optional<ledger::Row> pending = Latest("crash-after-1");
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->event, ledger::Event::kPending);
  EXPECT_EQ(pending->value_before, start);
  EXPECT_EQ(pending->value_after, start - 9);

  testing::LoopbackDesfired restarted(sandbox_->dir(), Flags());
  ASSERT_GT(restarted.port(), 0) << restarted.err();
  std::optional<ledger::Row> settled = WaitReconciled("crash-after-1");
  ASSERT_TRUE(settled.has_value());
  EXPECT_EQ(settled->event, ledger::Event::kReconciled) << restarted.err();
  EXPECT_EQ(settled->outcome, "COMMITTED");
  EXPECT_EQ(settled->pending_seq, pending->seq);
  EXPECT_NE(restarted.err().find("unsettled"), std::string::npos) << restarted.err();
  ExpectReplayedThenVerify(restarted, 9, "crash-after-1", start - 9);
}

// desfired dies after the PENDING row, before CommitTransaction: the card rolled back. The next
// desfired settles it NOT_COMMITTED; the retry makes the debit, once.
TEST_F(LedgerE2eTest, CrashBeforeCommitIsSettledNotCommitted) {
  int32_t start = 0;
  ASSERT_NO_FATAL_FAILURE(
      CrashDuringDebit("--testing_crash_before_commit", 4, "crash-before-1", &start));
  testing::LoopbackDesfired restarted(sandbox_->dir(), Flags());
  ASSERT_GT(restarted.port(), 0) << restarted.err();
  std::optional<ledger::Row> settled = WaitReconciled("crash-before-1");
  ASSERT_TRUE(settled.has_value());
  EXPECT_EQ(settled->outcome, "NOT_COMMITTED") << restarted.err();
  EXPECT_EQ(Value(restarted.cards()), start);

  v1::DebitResponse retry;
  grpc::Status s = restarted.cards().Debit(Ctx().get(), DebitReq(4, "crash-before-1"), &retry);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(retry.change().replayed());
  EXPECT_EQ(Value(restarted.cards()), start - 4);
  s = restarted.cards().Debit(Ctx().get(), DebitReq(4, "crash-before-1"), &retry);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(retry.change().replayed());
  EXPECT_EQ(Value(restarted.cards()), start - 4);
}

// desfired dies right after the DONE row of a committed Debit, which is written but not synced
// (docs/ledger.md, "Durability"): the row survives a crash of the process (a crash of the
// machine could lose it, and then the PENDING row is settled from the card, as in
// CrashAfterCommitIsReconciledOnRestart). The restarted desfired opens the ledger (its head file
// one row behind), the retry is replayed and the card is debited once.
TEST_F(LedgerE2eTest, CrashAfterUnsyncedDoneIsReplayedOnRestart) {
  int32_t start = 0;
  ASSERT_NO_FATAL_FAILURE(CrashDuringDebit("--testing_crash_after_done", 6, "crash-done", &start));
  std::optional<ledger::Row> done = Latest("crash-done");
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->event, ledger::Event::kDone);
  EXPECT_EQ(done->outcome, "OK");

  testing::LoopbackDesfired restarted(sandbox_->dir(), Flags());
  ASSERT_GT(restarted.port(), 0) << restarted.err();
  ExpectReplayedThenVerify(restarted, 6, "crash-done", start - 6);
  // Nothing was left to settle: the DONE row is still the request's newest.
  EXPECT_EQ(Latest("crash-done")->seq, done->seq);
}

// `ledger verify` (the library and desfirectl) passes on the server's ledger and names the row
// someone edited.
TEST_F(LedgerE2eTest, VerifyCatchesATamperedRow) {
  StartInProcess();
  v1::DebitResponse resp;
  for (int i = 0; i < 3; ++i) {
    grpc::Status s = cards_->Debit(Ctx().get(), DebitReq(1, absl::StrCat("tamper-", i)), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  server_->Shutdown(absl::Seconds(1));
  server_.reset();
  auto good = ledger::Ledger::VerifyFile(ledger_path_);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_TRUE(good->ok) << good->problem;
  EXPECT_GE(good->rows, 6);

  std::optional<ledger::Row> row = Latest("tamper-1");
  ASSERT_TRUE(row.has_value());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(ledger_path_.c_str(), &db), SQLITE_OK);
  const std::string edit = absl::StrCat("UPDATE ledger SET amount = 100 WHERE seq = ", row->seq);
  ASSERT_EQ(sqlite3_exec(db, edit.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);

  auto bad = ledger::Ledger::VerifyFile(ledger_path_);
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_FALSE(bad->ok);
  EXPECT_EQ(bad->bad_seq, row->seq) << bad->problem;

  const std::string out = absl::StrCat(sandbox_->dir(), "/verify.out");
  const std::string cmd =
      absl::StrCat(DESFIRECTL, " ledger verify --ledger ", ledger_path_, " >", out, " 2>&1");
  const int rc = std::system(cmd.c_str());
  EXPECT_NE(WEXITSTATUS(rc), 0);
  EXPECT_NE(ReadFile(out).find(absl::StrCat(row->seq)), std::string::npos) << ReadFile(out);
}

// Keys: a wrong key, a missing key and a key of the wrong type each fail clearly (and never
// show the key); SIGHUP reloads the key file, a bad file keeps the keys in use.
TEST_F(LedgerE2eTest, KeyErrorsAndReloadOnSighup) {
  testing::LoopbackDesfired server(sandbox_->dir(), Flags());
  ASSERT_GT(server.port(), 0) << server.err();
  const int32_t start = Value(server.cards());
  // The process holding the keys never dumps core.
  const std::string limits = ReadFile(absl::StrCat("/proc/", server.pid(), "/limits"));
  EXPECT_NE(limits.find("Max core file size        0"), std::string::npos) << limits;

  auto debit_with = [&](const std::string& key, const std::string& id) {
    v1::DebitRequest req = DebitReq(1, id);
    req.mutable_auth()->set_key_name(key);
    v1::DebitResponse resp;
    return server.cards().Debit(Ctx().get(), req, &resp);
  };
  grpc::Status missing = debit_with("no-such-key", "keys-1");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(InfoOf(missing).reason(), "KEY_NOT_FOUND") << missing.error_message();
  EXPECT_EQ(InfoOf(missing).metadata().at("key_name"), "no-such-key");
  grpc::Status wrong = debit_with("transit-credit", "keys-2");  // a real key, not key 2's
  EXPECT_EQ(InfoOf(wrong).reason(), "AUTHENTICATION_FAILED") << wrong.error_message();
  grpc::Status wrong_type = debit_with("des-key", "keys-3");  // DES for an AES application
  EXPECT_FALSE(wrong_type.ok());
  EXPECT_NE(InfoOf(wrong_type).reason(), "") << wrong_type.error_message();
  EXPECT_NE(wrong_type.error_message().find("des-key"), std::string::npos)
      << "the error should name the key: " << wrong_type.error_message();
  for (const grpc::Status& s : {missing, wrong, wrong_type}) {
    EXPECT_EQ(s.error_message().find("c0c1c2c3"), std::string::npos) << s.error_message();
    EXPECT_EQ(s.error_message().find("0011223344556677"), std::string::npos);
  }
  EXPECT_EQ(Value(server.cards()), start);

  // Reload: transit-debit now holds another value, so key 2 no longer authenticates.
  std::string changed = absl::StrReplaceAll(
      KeyFile(), {{"b0b1b2b3b4b5b6b7b8b9babbbcbdbebf", "0f0e0d0c0b0a09080706050403020100"}});
  std::ofstream(key_path_) << changed;
  ::kill(server.pid(), SIGHUP);
  grpc::Status after;
  for (int i = 0; i < 250; ++i) {
    after = debit_with("transit-debit", absl::StrCat("keys-reload-", i));
    if (!after.ok()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(InfoOf(after).reason(), "AUTHENTICATION_FAILED") << after.error_message();
  EXPECT_NE(server.err().find("keys reloaded"), std::string::npos) << server.err();

  // A bad file: refused, the keys in use stay (transit-read still reads).
  std::ofstream(key_path_) << "key broken AES128 00\n";
  ::kill(server.pid(), SIGHUP);
  for (int i = 0; i < 250 && server.err().find("not reloaded") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_NE(server.err().find("keys not reloaded"), std::string::npos) << server.err();
  EXPECT_GE(Value(server.cards()), 0);
  EXPECT_EQ(server.Stop(), 0) << server.err();
  EXPECT_EQ(server.err().find("b0b1b2b3"), std::string::npos) << "a key in the log";
}

// Graceful shutdown: health turns NOT_SERVING, the debit in flight finishes (and is recorded),
// a WatchCards stream ends with SHUTTING_DOWN, new calls are refused, and a change a client left
// open with defer_commit is aborted — the next server finds the value unchanged.
TEST_F(LedgerE2eTest, GracefulShutdownDrainsAndAbortsOpenTransactions) {
  StartInProcess();
  const int32_t start = Value(*cards_);
  v1::DebitRequest deferred = DebitReq(50, "deferred-1");
  deferred.set_defer_commit(true);
  v1::DebitResponse open;
  grpc::Status s = cards_->Debit(Ctx().get(), deferred, &open);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(open.change().committed());

  auto watch_ctx = Ctx(absl::Seconds(30));
  auto watch = cards_->WatchCards(watch_ctx.get(), v1::WatchCardsRequest());
  v1::WatchCardsResponse first;
  ASSERT_TRUE(watch->Read(&first));  // the snapshot

  // A slow card: the next debit takes a while, and shutdown starts while it runs.
  ASSERT_EQ(*sandbox_->Control(0, "delay 100000"), "ok");
  grpc::Status in_flight;
  v1::DebitResponse in_flight_resp;
  std::thread debit([&] {
    // Another key session than the deferred change's: that change is abandoned on the card.
    v1::CreditRequest credit;
    credit.mutable_target()->set_reader(reader_);
    credit.set_aid(kTransitAid);
    credit.set_file_no(1);
    credit.mutable_auth()->set_key_name("transit-credit");
    credit.mutable_auth()->set_key_number(3);
    credit.set_amount(2);
    credit.set_request_id("in-flight-1");
    v1::CreditResponse resp;
    in_flight = cards_->Credit(Ctx(absl::Seconds(20)).get(), credit, &resp);
    in_flight_resp.mutable_change()->CopyFrom(resp.change());
  });
  absl::SleepFor(absl::Milliseconds(300));  // the credit is on the card now
  std::thread stopper([&] { server_->Shutdown(absl::Seconds(10)); });
  absl::SleepFor(absl::Milliseconds(100));
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest hreq;
  grpc::health::v1::HealthCheckResponse hresp;
  grpc::Status hs = health->Check(Ctx().get(), hreq, &hresp);
  EXPECT_TRUE(!hs.ok() || hresp.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING)
      << "health still SERVING during shutdown";
  v1::WatchCardsResponse more;
  while (watch->Read(&more)) {
  }
  grpc::Status ended = watch->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << ended.error_message();
  EXPECT_EQ(InfoOf(ended).reason(), "SHUTTING_DOWN");
  debit.join();
  stopper.join();
  EXPECT_TRUE(in_flight.ok()) << "the call in flight was not drained: "
                              << in_flight.error_message();
  EXPECT_EQ(in_flight_resp.change().value_after(), start + 2);
  server_.reset();

  ASSERT_EQ(*sandbox_->Control(0, "delay 0"), "ok");
  StartInProcess();
  EXPECT_EQ(Value(*cards_), start + 2) << "the deferred debit was committed, or the credit lost";
  std::optional<ledger::Row> row = Latest("in-flight-1");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->outcome, "OK");
}

// A data directory others can write to is refused at start-up, naming the field.
TEST_F(LedgerE2eTest, OpenDataDirIsRefused) {
  ASSERT_EQ(::chmod(data_dir_.c_str(), 0777), 0);
  testing::LoopbackDesfired server(sandbox_->dir(), Flags());
  EXPECT_EQ(server.Wait(), 1);
  EXPECT_NE(server.err().find("config data_dir"), std::string::npos) << server.err();
}

// Client strings are bounded before anything is logged or recorded (server/rpc/request_limits.h):
// a Debit naming a reader of 1 MiB — or carrying a key name or request id of 1 MiB — fails with
// INVALID_ARGUMENT naming the field, the ledger does not grow, the card is not debited, and no
// log line of desfired comes near the size of the input.
TEST_F(LedgerE2eTest, OverlongClientStringsAreRefusedBeforeTheLedgerAndTheLog) {
  testing::LoopbackDesfired server(sandbox_->dir(), Flags());
  ASSERT_GT(server.port(), 0) << server.err();
  v1::DebitResponse resp;
  grpc::Status s = server.cards().Debit(Ctx().get(), DebitReq(1, "bounded-1"), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const int32_t start = Value(server.cards());
  auto before = ledger::Ledger::VerifyFile(ledger_path_);
  ASSERT_TRUE(before.ok()) << before.status();

  const std::string mib(1 << 20, 'r');
  struct Case {
    const char* field;
    v1::DebitRequest request;
  };
  std::vector<Case> cases = {{"target.reader", DebitReq(1, "bounded-2")},
                             {"auth.key_name", DebitReq(1, "bounded-3")},
                             {"request_id", DebitReq(1, mib)}};
  cases[0].request.mutable_target()->set_reader(mib);
  cases[1].request.mutable_auth()->set_key_name(mib);
  for (const Case& c : cases) {
    s = server.cards().Debit(Ctx().get(), c.request, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_EQ(InfoOf(s).metadata().at("field"), c.field) << s.error_message().substr(0, 300);
    EXPECT_LT(s.error_message().size(), 512u) << c.field;
  }

  EXPECT_EQ(Value(server.cards()), start);
  auto after = ledger::Ledger::VerifyFile(ledger_path_);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(after->ok) << after->problem;
  EXPECT_EQ(after->rows, before->rows) << "the ledger grew";
  EXPECT_EQ(server.Stop(), 0);
  const std::string log = server.err();
  size_t longest = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) longest = std::max(longest, line.size());
  EXPECT_LE(longest, 4096u) << "a log line of " << longest << " bytes";
  EXPECT_NE(log.find("\"code\":\"INVALID_ARGUMENT\""), std::string::npos) << log.substr(0, 2000);
}

}  // namespace
}  // namespace desfired
