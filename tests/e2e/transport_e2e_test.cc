// Connections and streams of the desfired binary against clients that hold on to them: a
// WatchCards client that reads nothing (no flow-control window), idle and half-open TCP
// connections, too many health Watch streams, too many streams on one connection
// (docs/server.md, "Connections and streams"). Hostile clients speak raw HTTP/2
// (tests/testing/raw_http2.h); the others are gRPC clients. One sandbox and one desfired per
// test process; ctest runs every test in its own process.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/http_get.h"
#include "tests/testing/raw_http2.h"

namespace desfired {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using testing::RawHttp2;

constexpr char kWatchCards[] = "/desfired.v1.CardService/WatchCards";
constexpr char kHealthWatch[] = "/grpc.health.v1.Health/Watch";
// What the tests wait beyond a limit's own time before they call it broken.
constexpr absl::Duration kSlack = absl::Seconds(15);

class TransportE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
  }

  // desfired on the sandbox with `flags` added.
  void Start(std::vector<std::string> flags) {
    flags.push_back("--listen=127.0.0.1:0");
    flags.push_back(absl::StrCat("--pcsc_socket=", sandbox_->dir(), "/run/pcscd.comm"));
    server_ = std::make_unique<testing::DesfiredProcess>(sandbox_->dir(), flags);
    ASSERT_GT(server_->port(), 0) << server_->err();
  }

  std::unique_ptr<RawHttp2> Raw(absl::string_view from = "127.0.0.1") {
    absl::StatusOr<std::unique_ptr<RawHttp2>> c = RawHttp2::Connect(server_->port(), from);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  // A connection from `from` that the server admitted: it answers the client's preface with
  // its SETTINGS. Null (and a test failure) otherwise.
  std::unique_ptr<RawHttp2> Admitted(absl::string_view from = "127.0.0.1") {
    std::unique_ptr<RawHttp2> c = Raw(from);
    if (c == nullptr || !c->Handshake().ok()) return nullptr;
    absl::StatusOr<RawHttp2::Frame> settings = c->WaitFor(
        [](const RawHttp2::Frame& f) { return f.type == RawHttp2::kSettings && f.flags == 0; },
        kSlack);
    EXPECT_TRUE(settings.ok()) << "not admitted: " << settings.status();
    return settings.ok() ? std::move(c) : nullptr;
  }

  // A connection from `from` that the server closes without a byte: refused at accept.
  void ExpectRefused(absl::string_view from = "127.0.0.1") {
    std::unique_ptr<RawHttp2> c = Raw(from);
    ASSERT_NE(c, nullptr);
    absl::StatusOr<RawHttp2::Frame> first = c->Next(kSlack);
    EXPECT_TRUE(absl::IsUnavailable(first.status()))
        << "the connection was not closed at once: "
        << (first.ok() ? absl::StrCat("frame type ", first->type) : first.status().ToString());
  }

  // The value of the sample `series` (e.g. `desfired_connections`) on desfired's /metrics;
  // -1 when absent.
  double Metric(const std::string& series) {
    const std::string port_key = "\"metrics_port\":";
    const std::string err = server_->err();
    const size_t at = err.find(port_key);
    int port = 0;
    if (at == std::string::npos ||
        !absl::SimpleAtoi(
            err.substr(at + port_key.size(), err.find_first_of(",}", at) - at - port_key.size()),
            &port)) {
      ADD_FAILURE() << "no metrics_port in the log: " << err;
      return -1;
    }
    absl::StatusOr<testing::HttpResponse> r = testing::HttpGet(port, "/metrics");
    if (!r.ok()) return -1;
    for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
      double value = 0;
      if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ") &&
          absl::SimpleAtod(line, &value)) {
        return value;
      }
    }
    return -1;
  }

  // Waits (up to kSlack) for `series` to read `value`; its last reading.
  double WaitMetric(const std::string& series, double value) {
    double seen = Metric(series);
    for (absl::Time end = absl::Now() + kSlack; seen != value && absl::Now() < end;) {
      absl::SleepFor(absl::Milliseconds(50));
      seen = Metric(series);
    }
    return seen;
  }

  // The log lines of desfired that hold every one of `parts`.
  std::vector<std::string> LogLines(const std::vector<std::string>& parts) {
    return testing::LinesWith(server_->err(), parts);
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::unique_ptr<testing::DesfiredProcess> server_;
};

// A WatchCards client that grants no flow-control window never takes a write: it is cut off
// after --watch_write_timeout (SLOW_CONSUMER in the server's log), and its stream is reset.
TEST_F(TransportE2eTest, WatcherThatReadsNothingIsCutOff) {
  Start({"--watch_write_timeout=1s", "--watch_queue=16"});
  std::unique_ptr<RawHttp2> client = Raw();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Handshake(/*initial_window=*/0).ok());
  ASSERT_TRUE(client->StartCall(1, kWatchCards, "").ok());
  absl::StatusOr<RawHttp2::Frame> reset = client->WaitFor(
      [](const RawHttp2::Frame& f) { return f.type == RawHttp2::kRstStream && f.stream == 1; },
      absl::Seconds(1) + kSlack);
  ASSERT_TRUE(reset.ok()) << "the stream was not ended: " << reset.status();
  // The cut-off is reported like any end of a call, with the slow-consumer reason.
  std::vector<std::string> lines;
  for (int i = 0; i < 100 && lines.empty(); ++i) {
    lines = LogLines({"\"method\":\"WatchCards\"", "\"code\":\"RESOURCE_EXHAUSTED\"",
                      "\"reason\":\"SLOW_CONSUMER\""});
    if (lines.empty()) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(lines.size(), 1u) << server_->err();
  // A client that reads is not cut off, however long it watches.
  auto cards = v1::CardService::NewStub(server_->Channel());
  auto ctx = testing::Ctx(absl::Seconds(3));
  std::unique_ptr<grpc::ClientReader<v1::WatchCardsResponse>> watch =
      cards->WatchCards(ctx.get(), v1::WatchCardsRequest());
  v1::WatchCardsResponse item;
  ASSERT_TRUE(watch->Read(&item));
  EXPECT_TRUE(item.has_snapshot());
  while (watch->Read(&item)) {
  }
  // Ended by its own deadline, not cut off.
  EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

// A connection that never completes the HTTP/2 handshake, and one that completes it and then
// makes no call, are both closed by the server.
TEST_F(TransportE2eTest, SilentAndIdleConnectionsAreClosed) {
  Start({"--handshake_timeout=1s", "--connection_idle_timeout=1s"});
  std::unique_ptr<RawHttp2> silent = Raw();
  std::unique_ptr<RawHttp2> idle = Raw();
  ASSERT_NE(silent, nullptr);
  ASSERT_NE(idle, nullptr);
  ASSERT_TRUE(idle->Handshake().ok());
  EXPECT_TRUE(silent->WaitClosed(absl::Seconds(1) + kSlack));
  absl::StatusOr<RawHttp2::Frame> goaway =
      idle->WaitFor([](const RawHttp2::Frame& f) { return f.type == RawHttp2::kGoaway; },
                    absl::Seconds(1) + kSlack);
  EXPECT_TRUE(goaway.ok()) << goaway.status();
  EXPECT_TRUE(idle->WaitClosed(kSlack));
}

// Health Watch needs no token, so its streams are bounded over all callers.
TEST_F(TransportE2eTest, HealthWatchStreamsBeyondTheLimitAreResourceExhausted) {
  Start({"--max_health_watchers=3"});
  auto health = Health::NewStub(server_->Channel());
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<HealthCheckResponse>>> watches;
  for (int i = 0; i < 3; ++i) {
    contexts.push_back(testing::Ctx(absl::Seconds(30)));
    watches.push_back(health->Watch(contexts.back().get(), HealthCheckRequest()));
    HealthCheckResponse status;
    ASSERT_TRUE(watches.back()->Read(&status)) << i;
    EXPECT_EQ(status.status(), HealthCheckResponse::SERVING);
  }
  auto ctx = testing::Ctx();
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> refused =
      health->Watch(ctx.get(), HealthCheckRequest());
  HealthCheckResponse status;
  EXPECT_FALSE(refused->Read(&status));
  const grpc::Status s = refused->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(testing::InfoOf(s).reason(), "TOO_MANY_STREAMS");
  // Check is not a stream: still answered.
  HealthCheckResponse checked;
  EXPECT_TRUE(health->Check(testing::Ctx().get(), HealthCheckRequest(), &checked).ok());
  // One closed, one more may open (once the server has seen it go).
  contexts[0]->TryCancel();
  watches[0]->Finish();
  bool reopened = false;
  for (int i = 0; i < 100 && !reopened; ++i) {
    auto again_ctx = testing::Ctx();
    auto again = health->Watch(again_ctx.get(), HealthCheckRequest());
    reopened = again->Read(&status);
    again_ctx->TryCancel();
    again->Finish();
    if (!reopened) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(reopened);
}

// HTTP/2 MAX_CONCURRENT_STREAMS: advertised, and a client going beyond it is cut off.
TEST_F(TransportE2eTest, StreamsPerConnectionAreBounded) {
  Start({"--max_streams_per_connection=4"});
  std::unique_ptr<RawHttp2> client = Raw();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Handshake().ok());
  absl::StatusOr<RawHttp2::Frame> settings = client->WaitFor(
      [](const RawHttp2::Frame& f) { return f.type == RawHttp2::kSettings && f.flags == 0; },
      kSlack);
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->setting(/*SETTINGS_MAX_CONCURRENT_STREAMS=*/0x3), 4);
  // Four health Watch streams are served (their first message, SERVING, comes).
  std::set<uint32_t> served;
  for (uint32_t stream = 1; stream <= 7; stream += 2) {
    ASSERT_TRUE(client->StartCall(stream, kHealthWatch, "").ok());
  }
  while (served.size() < 4) {
    absl::StatusOr<RawHttp2::Frame> f = client->Next(kSlack);
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_NE(f->type, RawHttp2::kRstStream) << f->stream;
    if (f->type == RawHttp2::kData) served.insert(f->stream);
  }
  // A fifth breaks the client's side of the limit (gRPC clients queue their calls instead):
  // gRPC 1.51 ends the whole connection, failing its calls (UNAVAILABLE).
  ASSERT_TRUE(client->StartCall(9, kHealthWatch, "").ok());
  EXPECT_TRUE(client->WaitClosed(kSlack));
}

// --max_connections bounds the TCP connections open at once, handshaking ones too: the one
// beyond is closed before a byte is read, counted and logged; one closing makes room.
TEST_F(TransportE2eTest, ConnectionsBeyondTheLimitAreClosedAtAccept) {
  Start({"--max_connections=3", "--metrics_listen=127.0.0.1:0"});
  std::vector<std::unique_ptr<RawHttp2>> held;
  held.push_back(Raw());  // silent: still handshaking, and counted
  held.push_back(Admitted());
  held.push_back(Admitted());
  for (const auto& c : held) ASSERT_NE(c, nullptr);
  EXPECT_EQ(WaitMetric("desfired_connections", 3), 3);
  ExpectRefused();
  ExpectRefused();
  EXPECT_EQ(WaitMetric("desfired_connections_refused_total{limit=\"max_connections\"}", 2), 2);
  EXPECT_EQ(LogLines({"connections refused", "\"limit\":\"max_connections\""}).size(), 1u)
      << "the first refusal is logged, the next within a minute only counted";
  // One goes: a new one is admitted, once the server has seen it go.
  held.front().reset();
  EXPECT_EQ(WaitMetric("desfired_connections", 2), 2);
  std::unique_ptr<RawHttp2> next = Admitted();
  EXPECT_NE(next, nullptr);
  ExpectRefused();
}

// The connections the server closes itself (handshake timeout, idle timeout) give their slot
// back: with all slots taken by them, a client gets in once they are gone.
TEST_F(TransportE2eTest, ConnectionsTheServerClosesFreeTheirSlots) {
  Start({"--max_connections=2", "--handshake_timeout=1s", "--connection_idle_timeout=1s"});
  std::unique_ptr<RawHttp2> silent = Raw();
  std::unique_ptr<RawHttp2> idle = Admitted();
  ASSERT_NE(silent, nullptr);
  ASSERT_NE(idle, nullptr);
  ExpectRefused();
  EXPECT_TRUE(silent->WaitClosed(absl::Seconds(1) + kSlack));
  EXPECT_TRUE(idle->WaitClosed(absl::Seconds(1) + kSlack));
  // Both client sockets are still open here: only the server's closing freed the slots.
  std::unique_ptr<RawHttp2> first = Admitted();
  std::unique_ptr<RawHttp2> second = Admitted();
  EXPECT_NE(first, nullptr);
  EXPECT_NE(second, nullptr);
  // A gRPC client is served on a connection of its own once one of them has gone.
  first.reset();
  bool served = false;
  for (absl::Time end = absl::Now() + kSlack; !served && absl::Now() < end;) {
    HealthCheckResponse status;
    served = Health::NewStub(server_->Channel())
                 ->Check(testing::Ctx(absl::Seconds(2)).get(), HealthCheckRequest(), &status)
                 .ok();
  }
  EXPECT_TRUE(served);
}

// --max_connections_per_address bounds one client address without refusing the others.
TEST_F(TransportE2eTest, ConnectionsPerAddressAreBounded) {
  Start({"--max_connections_per_address=2", "--metrics_listen=127.0.0.1:0"});
  std::unique_ptr<RawHttp2> a = Admitted("127.0.0.1");
  std::unique_ptr<RawHttp2> b = Admitted("127.0.0.1");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ExpectRefused("127.0.0.1");
  EXPECT_NE(Admitted("127.0.0.2"), nullptr);
  EXPECT_EQ(
      WaitMetric("desfired_connections_refused_total{limit=\"max_connections_per_address\"}", 1),
      1);
}

}  // namespace
}  // namespace desfired
