// Events on NATS JetStream through the desfired binary (docs/fleet.md, "Events on NATS"): a
// sandboxed pcscd with desfire-sim's transit card, a throwaway nats-server with JetStream,
// desfired --nats. The reader and card events and a Debit's change outcome arrive on their
// subjects as the proto3 JSON of WatchCards; NATS paused (SIGSTOP) while events come loses and
// duplicates nothing; a restarted desfired never reuses a message id. Skipped without root
// (the pcscd sandbox) or nats-server.
#include <sys/stat.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/nats_sandbox.h"

namespace desfired {
namespace {

using testing::StoredMessage;

constexpr char kStream[] = "DESFIRED";
constexpr char kInstance[] = "station-1";

// The reader token of the sandbox's reader 0 in the subjects ("Virtual PCD 00 00" →
// "Virtual_PCD_00_00"): spaces become '_'.
std::string Token(std::string reader) {
  for (char& c : reader) {
    if (c == ' ' || c == '.') c = '_';
  }
  return reader;
}

// "station-1.<boot>.<sequence>" → {boot, sequence}.
std::pair<uint64_t, uint64_t> IdParts(const std::string& id) {
  std::vector<std::string> parts = absl::StrSplit(id, '.');
  std::pair<uint64_t, uint64_t> out{0, 0};
  if (parts.size() == 3 && parts[0] == kInstance) {
    (void)absl::SimpleAtoi(parts[1], &out.first);
    (void)absl::SimpleAtoi(parts[2], &out.second);
  }
  return out;
}

class NatsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nats_ = testing::StartNatsOrSkip();
    if (nats_ == nullptr) return;
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
    ASSERT_TRUE(nats_->AddStream(kStream, "desfired.>").ok());
    reader_ = sandbox_->ReaderName(0);
    data_dir_ = absl::StrCat(sandbox_->dir(), "/data");
    ASSERT_EQ(::mkdir(data_dir_.c_str(), 0700), 0);
  }

  void Start() {
    server_ = testing::StartTransitDesfired(
        *sandbox_, {"--nats=" + nats_->url(), absl::StrCat("--instance=", kInstance),
                    "--data_dir=" + data_dir_, "--shutdown_grace=1s"});
    ASSERT_NE(server_, nullptr);
  }

  // The stream's messages once `done` holds for them (or after 20 s, with a failure).
  std::vector<StoredMessage> MessagesWhen(
      const std::function<bool(const std::vector<StoredMessage>&)>& done) {
    std::vector<StoredMessage> all;
    for (int i = 0; i < 400; ++i) {
      absl::StatusOr<std::vector<StoredMessage>> now = nats_->Messages(kStream);
      if (now.ok()) all = *now;
      if (done(all)) return all;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ADD_FAILURE() << "the stream holds " << all.size() << " messages; server log:\n"
                  << server_->err();
    return all;
  }

  static bool Has(const std::vector<StoredMessage>& all, absl::string_view subject,
                  absl::string_view part) {
    for (const StoredMessage& m : all) {
      if (m.subject == subject && absl::StrContains(m.data, part)) return true;
    }
    return false;
  }

  void Move(bool present) {
    ASSERT_TRUE(sandbox_->Control(0, present ? "insert" : "remove").ok());
    ASSERT_TRUE(sandbox_->WaitForCard(0, present, absl::Seconds(15)).ok());
  }

  std::unique_ptr<testing::NatsSandbox> nats_;
  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::string reader_, data_dir_;
  std::unique_ptr<testing::LoopbackDesfired> server_;
};

TEST_F(NatsE2eTest, CardEventsAndADebitOnTheirSubjects) {
  if (nats_ == nullptr || sandbox_ == nullptr) return;
  ASSERT_NO_FATAL_FAILURE(Start());
  const std::string root = absl::StrCat("desfired.", kInstance, ".", Token(reader_));
  std::vector<StoredMessage> all = MessagesWhen([&](const auto& m) {
    return Has(m, root + ".reader", "\"kind\":\"READER_ADDED\"") &&
           Has(m, root + ".card", "\"kind\":\"CARD_INSERTED\"");
  });
  v1::DebitResponse debit;
  grpc::Status s = server_->cards().Debit(
      testing::Ctx().get(), testing::TransitDebit(reader_, 150, "nats-e2e-1"), &debit);
  ASSERT_TRUE(s.ok()) << s.error_message();
  all = MessagesWhen(
      [&](const auto& m) { return Has(m, root + ".change", "\"requestId\":\"nats-e2e-1\""); });
  for (const StoredMessage& m : all) {
    if (m.subject != root + ".change") continue;
    EXPECT_TRUE(absl::StartsWith(m.data, "{\"change\":{\"sequence\":\"")) << m.data;
    EXPECT_TRUE(absl::StrContains(m.data, "\"outcome\":\"COMMITTED\",\"method\":\"Debit\","))
        << m.data;
    EXPECT_TRUE(absl::StrContains(m.data, absl::StrCat("\"reader\":\"", reader_, "\""))) << m.data;
    EXPECT_TRUE(absl::StrContains(m.data, "\"ledgerSeq\":\"")) << m.data;
    EXPECT_TRUE(absl::StrContains(m.data, "\"amount\":\"150\"")) << m.data;
    EXPECT_EQ(IdParts(m.msg_id).first, 1u) << m.msg_id;
  }
  ASSERT_NO_FATAL_FAILURE(Move(false));
  all = MessagesWhen(
      [&](const auto& m) { return Has(m, root + ".card", "\"kind\":\"CARD_REMOVED\""); });
  for (const StoredMessage& m : all) {
    // The card's UID is left out (no --nats_include_uids); the ATR is there.
    if (absl::EndsWith(m.subject, ".card")) {
      EXPECT_FALSE(absl::StrContains(m.data, "\"uid\"")) << m.data;
      EXPECT_TRUE(absl::StrContains(m.data, "\"atr\":\"")) << m.data;
    }
  }
  EXPECT_EQ(server_->Stop(), 0) << server_->err();
}

TEST_F(NatsE2eTest, PausedNatsAndARestartLoseAndRepeatNothing) {
  if (nats_ == nullptr || sandbox_ == nullptr) return;
  ASSERT_NO_FATAL_FAILURE(Start());
  const std::string root = absl::StrCat("desfired.", kInstance, ".", Token(reader_));
  (void)MessagesWhen(
      [&](const auto& m) { return Has(m, root + ".card", "\"kind\":\"CARD_INSERTED\""); });
  nats_->Pause();  // SIGSTOP during the events
  for (int cycle = 0; cycle < 3; ++cycle) {
    ASSERT_NO_FATAL_FAILURE(Move(false));
    ASSERT_NO_FATAL_FAILURE(Move(true));
  }
  v1::DebitResponse debit;
  grpc::Status s = grpc::Status::CANCELLED;
  for (int i = 0; i < 30 && !s.ok(); ++i) {  // the card settles into the field first
    s = server_->cards().Debit(testing::Ctx().get(),
                               testing::TransitDebit(reader_, 10, "nats-e2e-paused"), &debit);
    if (!s.ok()) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(s.ok()) << s.error_message();
  absl::SleepFor(absl::Seconds(1));
  nats_->Resume();
  std::vector<StoredMessage> all = MessagesWhen(
      [&](const auto& m) { return Has(m, root + ".change", "\"requestId\":\"nats-e2e-paused\""); });
  // A restart: boot 2, its events after boot 1's.
  EXPECT_EQ(server_->Stop(), 0) << server_->err();
  ASSERT_NO_FATAL_FAILURE(Start());
  all = MessagesWhen([&](const auto& m) {
    return !m.empty() && IdParts(m.back().msg_id).first == 2 &&
           Has(m, root + ".card", "\"kind\":\"CARD_INSERTED\"");
  });
  // Every id once; per boot, the event sequences without a gap and in order (every event of
  // the hub is published, change outcomes included).
  std::set<std::string> ids;
  std::map<uint64_t, uint64_t> last;  // boot → the last sequence seen
  uint64_t boot_before = 0;
  for (const StoredMessage& m : all) {
    EXPECT_TRUE(ids.insert(m.msg_id).second) << "twice: " << m.msg_id;
    const auto [boot, sequence] = IdParts(m.msg_id);
    ASSERT_GT(boot, 0u) << m.msg_id;
    EXPECT_GE(boot, boot_before) << m.msg_id;
    boot_before = boot;
    if (last.count(boot) > 0) {
      EXPECT_EQ(sequence, last[boot] + 1) << m.msg_id;
    }
    last[boot] = sequence;
    EXPECT_TRUE(absl::StrContains(m.data, absl::StrCat("\"sequence\":\"", sequence, "\"")))
        << m.data;
  }
  EXPECT_EQ(last.size(), 2u);
  EXPECT_EQ(server_->Stop(), 0) << server_->err();
}

}  // namespace
}  // namespace desfired
