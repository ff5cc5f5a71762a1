// The card session of a reader's worker (server/readers/card_session.h) against a sandboxed
// pcscd and desfire-sim, without the reader monitor (so that nothing but the session itself
// notices a card swap): while the connection is held a job sends only its own APDUs (no UID
// read, no SCardStatus), and a card swapped between two jobs is still caught — pcscd refuses
// the old connection (nothing reaches the new card), and a job expecting another UID than the
// one held makes the session look again.
//
// One sandbox per process (libpcsclite reads PCSCLITE_CSOCK_NAME once): ctest runs each test
// in its own process.
#include "server/readers/card_session.h"

#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/synchronization/notification.h"
#include "core/apdu/status_payload.h"
#include "core/util/bytes.h"
#include "gtest/gtest.h"
#include "server/readers/reader_worker.h"
#include "tests/integration/pcsc_sandbox.h"

namespace desfired::server {
namespace {

using testing::PcscSandbox;

constexpr char kTransitUid[] = "04a1b2c3d4e5f6";
constexpr char kBlankUid[] = "04063f72633480";
const std::string kImages = std::string(SOURCE_DIR) + "/sim/images/";

// What a job saw: the UID Begin gave it, and the status of one APDU (SelectApplication 000000).
struct Seen {
  absl::Status status;
  std::string uid;
};

class CardSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<PcscSandbox>> sandbox = PcscSandbox::StartWithCards(
        {.sim_binary = DESFIRE_SIM}, {kImages + "transit.json"}, absl::Seconds(3));
    if (absl::IsPermissionDenied(sandbox.status())) GTEST_SKIP() << sandbox.status();
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = *std::move(sandbox);
    reader_ = sandbox_->ReaderName(0);
    worker_ = std::make_unique<ReaderWorker<CardSession>>(
        reader_, std::make_unique<CardSession>(reader_, CardSession::Options{}));
  }

  // Runs one job: Begin (with `expected_uid`, hex, may be empty), then one APDU.
  Seen Job(const std::string& expected_uid = "") {
    Seen seen;
    absl::Notification done;
    const Bytes expected = expected_uid.empty() ? Bytes() : *HexDecode(expected_uid);
    absl::Status submitted = worker_->Submit({
        .deadline = absl::Now() + absl::Seconds(10),
        .body = [&](JobContext<CardSession>& job) -> absl::Status {
          absl::StatusOr<cardops::CardContext*> card = job.resource().Begin(job, expected);
          if (!card.ok()) return card.status();
          seen.uid = HexEncode((*card)->uid);
          return (*card)->card->SelectApplication(0);
        },
        .done =
            [&](absl::Status status) {
              seen.status = std::move(status);
              done.Notify();
            },
    });
    EXPECT_TRUE(submitted.ok()) << submitted;
    if (submitted.ok()) done.WaitForNotificationWithTimeout(absl::Seconds(20));
    return seen;
  }

  // The APDUs the card now on reader 0 has answered (desfire-sim's count since it started).
  int64_t Apdus() {
    absl::StatusOr<std::string> status = sandbox_->Control(0, "status");
    EXPECT_TRUE(status.ok()) << status.status();
    int64_t n = -1;
    if (!status.ok()) return n;
    const size_t at = status->find("apdus=");
    if (at != std::string::npos) {
      const std::string rest = status->substr(at + 6);
      EXPECT_TRUE(absl::SimpleAtoi(rest.substr(0, rest.find(' ')), &n)) << *status;
    }
    return n;
  }

  // Takes the card off reader 0 and puts the card of `image` there (pcscd sees both).
  void Swap(const std::string& image) {
    ASSERT_TRUE(sandbox_->StopCard(0).ok());
    ASSERT_TRUE(sandbox_->WaitForCard(0, false, absl::Seconds(3)).ok());
    ASSERT_TRUE(sandbox_->StartCard(0, kImages + image).ok());
    ASSERT_TRUE(sandbox_->WaitForCard(0, true, absl::Seconds(3)).ok());
  }

  std::unique_ptr<PcscSandbox> sandbox_;
  std::string reader_;
  std::unique_ptr<ReaderWorker<CardSession>> worker_;
};

TEST_F(CardSessionTest, AHeldConnectionSendsOnlyTheJobsApdus) {
  if (!sandbox_) return;
  Seen first = Job();
  ASSERT_TRUE(first.status.ok()) << first.status;
  EXPECT_EQ(first.uid, kTransitUid);
  const int64_t before = Apdus();
  for (int i = 0; i < 3; ++i) {
    Seen again = Job(kTransitUid);
    ASSERT_TRUE(again.status.ok()) << again.status;
    EXPECT_EQ(again.uid, kTransitUid);
  }
  EXPECT_EQ(Apdus(), before + 3);  // the three SelectApplication, no UID read
}

TEST_F(CardSessionTest, ACardSwappedBetweenJobsIsCaught) {
  if (!sandbox_) return;
  ASSERT_TRUE(Job().status.ok());  // the transit card's connection is held

  // The blank card takes its place. A job for the transit card gets the UID the connection was
  // made with, but its APDU meets the connection pcscd marked: CARD_REMOVED, and the blank card
  // received nothing.
  ASSERT_NO_FATAL_FAILURE(Swap("blank.json"));
  Seen stale = Job(kTransitUid);
  EXPECT_EQ(apdu::GetReason(stale.status), std::string(apdu::kReasonCardRemoved)) << stale.status;
  EXPECT_EQ(Apdus(), 0);
  // The connection was dropped: the next job connects to the blank card.
  Seen blank = Job();
  ASSERT_TRUE(blank.status.ok()) << blank.status;
  EXPECT_EQ(blank.uid, kBlankUid);

  // The transit card comes back. A job that expects it (not the UID held) makes the session
  // look again: a new connection, the transit card's UID, its APDU answered.
  ASSERT_NO_FATAL_FAILURE(Swap("transit.json"));
  Seen back = Job(kTransitUid);
  ASSERT_TRUE(back.status.ok()) << back.status;
  EXPECT_EQ(back.uid, kTransitUid);
  // A job expecting the blank card while the transit card is there: the session reads the UID
  // again (one APDU) and gives the transit card's, which the operation's guard then refuses.
  const int64_t before = Apdus();
  Seen other = Job(kBlankUid);
  EXPECT_EQ(other.uid, kTransitUid);
  EXPECT_EQ(Apdus(), before + 2);  // FF CA, then this test's SelectApplication
}

}  // namespace
}  // namespace desfired::server
