// WatchCards fan-out through the desfired binary (docs/server.md, "WatchCards watchers"): a
// watcher that stops reading is cut off while a watcher on another connection keeps receiving
// every event in order; many watchers on many connections all get every event in order; a
// shutdown with watchers open (one of them stopped) ends every stream and the process cleanly.
// The card is taken off and put back through desfire-sim's control socket. No timing asserts:
// every wait is a bound for a broken server, never a measure.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/raw_http2.h"

namespace desfired {
namespace {

using testing::RawHttp2;

constexpr char kWatchCards[] = "/desfired.v1.CardService/WatchCards";
// What the tests wait beyond a limit's own time before they call it broken.
constexpr absl::Duration kSlack = absl::Seconds(15);

using Stream = grpc::ClientReader<v1::WatchCardsResponse>;

class WatchE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
  }

  void Start(std::vector<std::string> flags) {
    flags.push_back(absl::StrCat("--pcsc_socket=", sandbox_->dir(), "/run/pcscd.comm"));
    server_ = std::make_unique<testing::LoopbackDesfired>(sandbox_->dir(), std::move(flags));
    ASSERT_GT(server_->port(), 0) << server_->err();
  }

  // A stub on a connection of its own.
  std::unique_ptr<v1::CardService::Stub> OwnConnection(int n) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("desfired.test.connection", n);
    return v1::CardService::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials(), args));
  }

  // Takes the card off reader 0 (`present` false) or puts it back, and waits until pcscd says so.
  void Move(bool present) {
    ASSERT_TRUE(sandbox_->Control(0, present ? "insert" : "remove").ok());
    ASSERT_TRUE(sandbox_->WaitForCard(0, present, kSlack).ok());
  }

  // Reads the next item of `stream` and expects the card event `kind` numbered `sequence`.
  static void ExpectEvent(Stream& stream, v1::CardEvent::Kind kind, uint64_t sequence) {
    v1::WatchCardsResponse item;
    ASSERT_TRUE(stream.Read(&item)) << "the stream ended before event " << sequence;
    ASSERT_TRUE(item.has_event());
    EXPECT_EQ(item.event().kind(), kind);
    EXPECT_EQ(item.event().sequence(), sequence);
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::unique_ptr<testing::LoopbackDesfired> server_;
};

TEST_F(WatchE2eTest, StoppedWatcherIsCutOffWhileAnotherKeepsEveryEvent) {
  Start({"--watch_write_timeout=1s"});
  auto cards = OwnConnection(0);
  auto ctx = testing::Ctx(absl::Seconds(120));
  std::unique_ptr<Stream> reading = cards->WatchCards(ctx.get(), v1::WatchCardsRequest());
  v1::WatchCardsResponse snapshot;
  ASSERT_TRUE(reading->Read(&snapshot));
  ASSERT_TRUE(snapshot.has_snapshot());
  uint64_t sequence = snapshot.snapshot().sequence();

  // The stopped watcher, on a connection of its own, grants a window for the same snapshot (a
  // 5-byte gRPC prefix and the message) and never more: it reads the snapshot and stops.
  absl::StatusOr<std::unique_ptr<RawHttp2>> stopped = RawHttp2::Connect(server_->port());
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  const uint32_t window = static_cast<uint32_t>(snapshot.ByteSizeLong() + 5);
  ASSERT_TRUE((*stopped)->Handshake(window).ok());
  ASSERT_TRUE((*stopped)->StartCall(1, kWatchCards, "").ok());
  ASSERT_TRUE(
      (*stopped)
          ->WaitFor(
              [](const RawHttp2::Frame& f) { return f.type == RawHttp2::kData && f.stream == 1; },
              kSlack)
          .ok())
      << "the stopped watcher got no snapshot";

  // Events while it is stopped, then after it is cut off: the reading watcher gets each one,
  // in order.
  for (int cycle = 0; cycle < 3; ++cycle) {
    Move(false);
    ASSERT_NO_FATAL_FAILURE(ExpectEvent(*reading, v1::CardEvent::CARD_REMOVED, ++sequence));
    Move(true);
    ASSERT_NO_FATAL_FAILURE(ExpectEvent(*reading, v1::CardEvent::CARD_INSERTED, ++sequence));
  }
  absl::StatusOr<RawHttp2::Frame> reset = (*stopped)->WaitFor(
      [](const RawHttp2::Frame& f) { return f.type == RawHttp2::kRstStream && f.stream == 1; },
      absl::Seconds(1) + kSlack);
  ASSERT_TRUE(reset.ok()) << "the stopped watcher was not cut off: " << reset.status();
  for (int cycle = 0; cycle < 2; ++cycle) {
    Move(false);
    ASSERT_NO_FATAL_FAILURE(ExpectEvent(*reading, v1::CardEvent::CARD_REMOVED, ++sequence));
    Move(true);
    ASSERT_NO_FATAL_FAILURE(ExpectEvent(*reading, v1::CardEvent::CARD_INSERTED, ++sequence));
  }
  // Reported once, with the slow-consumer reason; the reading watcher never.
  std::vector<std::string> lines;
  for (int i = 0; i < 100 && lines.empty(); ++i) {
    lines = testing::LinesWith(server_->err(),
                               {"\"method\":\"WatchCards\"", "\"code\":\"RESOURCE_EXHAUSTED\"",
                                "\"reason\":\"SLOW_CONSUMER\""});
    if (lines.empty()) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(lines.size(), 1u) << server_->err();
  ctx->TryCancel();
}

TEST_F(WatchE2eTest, ManyWatchersOnManyConnectionsGetEveryEventInOrder) {
  constexpr int kWatchers = 200;
  constexpr int kConnections = 50;
  constexpr int kCycles = 4;
  Start({});
  std::vector<std::unique_ptr<v1::CardService::Stub>> stubs;
  for (int c = 0; c < kConnections; ++c) stubs.push_back(OwnConnection(c));
  struct Watcher {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<Stream> stream;
    uint64_t snapshot = 0;
  };
  std::vector<Watcher> watchers(kWatchers);
  for (int w = 0; w < kWatchers; ++w) {
    watchers[w].ctx = testing::Ctx(absl::Seconds(120));
    watchers[w].stream =
        stubs[w % kConnections]->WatchCards(watchers[w].ctx.get(), v1::WatchCardsRequest());
    v1::WatchCardsResponse first;
    ASSERT_TRUE(watchers[w].stream->Read(&first));
    ASSERT_TRUE(first.has_snapshot());
    watchers[w].snapshot = first.snapshot().sequence();
  }
  for (int c = 0; c < kCycles; ++c) {
    Move(false);
    Move(true);
  }
  // Each watcher: the 2 * kCycles events after its snapshot, removal and insertion in turn.
  std::atomic<int> complete{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      for (int w = t; w < kWatchers; w += 8) {
        bool in_order = true;
        for (int i = 0; i < 2 * kCycles && in_order; ++i) {
          v1::WatchCardsResponse item;
          in_order = watchers[w].stream->Read(&item) && item.has_event() &&
                     item.event().sequence() == watchers[w].snapshot + i + 1 &&
                     item.event().kind() ==
                         (i % 2 == 0 ? v1::CardEvent::CARD_REMOVED : v1::CardEvent::CARD_INSERTED);
        }
        if (in_order) ++complete;
      }
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(complete.load(), kWatchers);
  for (Watcher& w : watchers) w.ctx->TryCancel();
}

TEST_F(WatchE2eTest, ShutdownWithWatchersOpenEndsCleanly) {
  constexpr int kWatchers = 40;
  Start({"--shutdown_grace=3s"});
  std::vector<std::unique_ptr<v1::CardService::Stub>> stubs;
  for (int c = 0; c < 4; ++c) stubs.push_back(OwnConnection(c));
  struct Watcher {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<Stream> stream;
  };
  std::vector<Watcher> watchers(kWatchers);
  for (int w = 0; w < kWatchers; ++w) {
    watchers[w].ctx = testing::Ctx(absl::Seconds(120));
    watchers[w].stream = stubs[w % 4]->WatchCards(watchers[w].ctx.get(), v1::WatchCardsRequest());
    v1::WatchCardsResponse first;
    ASSERT_TRUE(watchers[w].stream->Read(&first));
  }
  // And one that never reads: its first write is never taken.
  absl::StatusOr<std::unique_ptr<RawHttp2>> stopped = RawHttp2::Connect(server_->port());
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  ASSERT_TRUE((*stopped)->Handshake(/*initial_window=*/0).ok());
  ASSERT_TRUE((*stopped)->StartCall(1, kWatchCards, "").ok());

  EXPECT_EQ(server_->Stop(/*timeout=*/absl::Seconds(3) + kSlack), 0) << server_->err();
  for (Watcher& w : watchers) {
    v1::WatchCardsResponse item;
    EXPECT_FALSE(w.stream->Read(&item));
    const grpc::Status s = w.stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    EXPECT_EQ(testing::InfoOf(s).reason(), "SHUTTING_DOWN");
  }
  EXPECT_TRUE((*stopped)->WaitClosed(kSlack));
}

}  // namespace
}  // namespace desfired
