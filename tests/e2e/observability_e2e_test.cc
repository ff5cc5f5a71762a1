// Metrics and logs end to end: the real server on loopback with /metrics on a port of its own,
// a sandboxed pcscd with desfire-sim cards (reader 0: the transit card, reader 1: a blank
// card), scraped over HTTP; and the desfired binary with its flags.
// One sandbox and one server per test process; ctest runs every test in its own process.
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "desfired/v1/card.grpc.pb.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/http_get.h"
#include "tests/testing/prometheus_text.h"
#include "tests/unit/hex_testing.h"

namespace desfired {
namespace {

using test_util::Hex;
using testing::Ctx;
using testing::HttpGet;
using testing::ReadFile;
using testing::SampleOr0;
using testing::SampleValue;

// A tap record of the transit image (sim/images/transit.json, file 3), valid under the tap key.
constexpr char kTapRecord[] = "01001c206934120007000304a1b2c3d4e5f680a58563b2d02beb19f5ffffffff";

std::vector<std::string> Lines(const std::string& path) {
  return absl::StrSplit(ReadFile(path), '\n', absl::SkipEmpty());
}

bool ParseJson(const std::string& line, google::protobuf::Struct* out) {
  return google::protobuf::util::JsonStringToMessage(line, out).ok();
}

std::string Str(const google::protobuf::Struct& line, const std::string& key) {
  auto it = line.fields().find(key);
  return it == line.fields().end() ? "" : it->second.string_value();
}

// The hex values of the key lines of the key file (testing::kTransitKeyFile).
std::vector<std::string> KeyHexes() {
  std::vector<std::string> keys;
  for (absl::string_view line : absl::StrSplit(testing::kTransitKeyFile, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (words.size() >= 4 && words[0] == "key") keys.emplace_back(words[3]);
  }
  return keys;
}

class ObservabilityE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/true)) return;
    transit_ = sandbox_->ReaderName(0);

    absl::StatusOr<std::string> keys = testing::WriteKeyFile(sandbox_->dir());
    ASSERT_TRUE(keys.ok()) << keys.status();
    key_path_ = *keys;

    // The test's own log file; DESFIRED_LOG_FILE (the run-wide check) still gets the lines.
    log_path_ = absl::StrCat(sandbox_->dir(), "/desfired.log");
    auto logger = log::Logger::Create({.file = log_path_});
    ASSERT_TRUE(logger.ok()) << logger.status();

    server::ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.keys_file = key_path_;
    config.metrics_listen = "127.0.0.1:0";
    config.logger = *logger;
    config.data_dir = absl::StrCat(sandbox_->dir(), "/data");  // the ledger: its writes count
    ASSERT_EQ(::mkdir(config.data_dir.c_str(), 0700), 0);
    auto server = server::DesfiredServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->metrics_port(), 0);
    channel_ = testing::LoopbackChannel(server_->port());
    cards_ = v1::CardService::NewStub(channel_);
    taps_ = v1::TapService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  std::string Scrape() {
    absl::StatusOr<testing::HttpResponse> r = HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    EXPECT_EQ(r->status, 200) << r->headers;
    return r->body;
  }

  static std::string Rpc(absl::string_view service, absl::string_view method,
                         absl::string_view code) {
    return absl::StrCat("desfired_rpc_total{code=\"", code, "\",method=\"", method, "\",service=\"",
                        service, "\"}");
  }

  grpc::Status GetValue(const std::string& reader, v1::GetValueResponse* resp) {
    return cards_->GetValue(Ctx().get(), testing::TransitGetValue(reader), resp);
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::string transit_, key_path_, log_path_;
  std::unique_ptr<server::DesfiredServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CardService::Stub> cards_;
  std::unique_ptr<v1::TapService::Stub> taps_;
};

TEST_F(ObservabilityE2eTest, CountersMoveWithCalls) {
  const std::string before = Scrape();
  // The monitor's snapshot at start-up: both cards inserted, both readers listed.
  EXPECT_GE(SampleOr0(before, "desfired_cards_seen_total"), 1);
  EXPECT_GE(SampleOr0(before, "desfired_readers"), 2);
  EXPECT_EQ(SampleValue(before, "desfired_watchers"), 0);
  const std::string apdus = absl::StrCat("desfired_apdu_total{reader=\"", transit_, "\"}");
  // Each reader's error series is there at 0 before any error, for rate() alerts.
  for (const std::string& reader : {transit_, sandbox_->ReaderName(1)}) {
    EXPECT_EQ(
        SampleValue(before, absl::StrCat("desfired_apdu_errors_total{reader=\"", reader, "\"}")), 0)
        << reader << "\n"
        << before;
  }

  v1::ListReadersResponse readers;
  ASSERT_TRUE(cards_->ListReaders(Ctx().get(), {}, &readers).ok());
  v1::GetValueResponse value;
  grpc::Status s = GetValue(transit_, &value);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(value.value(), 2500);
  s = GetValue("no such reader", &value);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);

  // A batch with a valid record, the same record with a byte changed, and a short one.
  v1::ParseTapsRequest parse;
  const Bytes record = Hex(kTapRecord);
  Bytes corrupted = record;
  corrupted[6] ^= 0x01;
  parse.add_records()->set_raw(AsString(record));
  parse.add_records()->set_raw(AsString(corrupted));
  parse.add_records()->set_raw("too short");
  v1::ParseTapsResponse parsed;
  s = taps_->ParseTaps(Ctx().get(), parse, &parsed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(parsed.summary().valid(), 1u);
  ASSERT_GE(parsed.summary().rejected(), 1u);

  // A WatchCards stream: the gauge says 1 while it is open.
  auto watch_ctx = Ctx();
  auto stream = cards_->WatchCards(watch_ctx.get(), v1::WatchCardsRequest());
  v1::WatchCardsResponse item;
  ASSERT_TRUE(stream->Read(&item));
  ASSERT_TRUE(item.has_snapshot());
  const std::string during = Scrape();
  EXPECT_EQ(SampleValue(during, "desfired_watchers"), 1);
  watch_ctx->TryCancel();
  while (stream->Read(&item)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  std::string after = Scrape();
  for (int i = 0; i < 100 && SampleOr0(after, "desfired_watchers") != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(20));  // the stream's end reaches the server
    after = Scrape();
  }
  EXPECT_EQ(SampleValue(after, "desfired_watchers"), 0);

  const auto moved = [&](const std::string& series) {
    return SampleOr0(after, series) - SampleOr0(before, series);
  };
  EXPECT_EQ(moved(Rpc("CardService", "ListReaders", "OK")), 1);
  EXPECT_EQ(moved(Rpc("CardService", "GetValue", "OK")), 1);
  EXPECT_EQ(moved(Rpc("CardService", "GetValue", "NOT_FOUND")), 1);
  EXPECT_EQ(moved(Rpc("TapService", "ParseTaps", "OK")), 1);
  // The client ending its stream is how a stream ends: not an error.
  EXPECT_EQ(moved(Rpc("CardService", "WatchCards", "OK")), 1);
  EXPECT_EQ(SampleValue(after, Rpc("CardService", "WatchCards", "CANCELLED")), std::nullopt);
  EXPECT_EQ(moved(R"(desfired_rpc_duration_seconds_count{method="GetValue",)"
                  R"(service="CardService"})"),
            2);
  // A stream's lifetime has a histogram of its own, apart from the unary latencies.
  EXPECT_EQ(moved(R"(desfired_stream_duration_seconds_count{method="WatchCards",)"
                  R"(service="CardService"})"),
            1);
  EXPECT_EQ(SampleValue(after, R"(desfired_rpc_duration_seconds_count{method="WatchCards",)"
                               R"(service="CardService"})"),
            std::nullopt);
  // GetValue with authentication is several APDUs, all on the transit card's reader.
  EXPECT_GE(moved(apdus), 3);
  EXPECT_GE(moved(absl::StrCat("desfired_apdu_duration_seconds_count{reader=\"", transit_, "\"}")),
            3);
  EXPECT_EQ(moved(R"(desfired_tap_records_parsed_total{status="valid"})"), 1);
  EXPECT_EQ(moved(R"(desfired_tap_records_parsed_total{status="flagged"})"),
            static_cast<double>(parsed.summary().flagged()));
  EXPECT_EQ(moved(R"(desfired_tap_records_parsed_total{status="rejected"})"),
            static_cast<double>(parsed.summary().rejected()));
  for (const auto& w : parsed.summary().warnings()) {
    const std::string name = v1::TapWarning_Name(w.warning());
    EXPECT_EQ(moved("desfired_tap_warnings_total{warning=\"" + name + "\"}"),
              static_cast<double>(w.count()))
        << name;
  }
  EXPECT_GT(parsed.summary().warnings_size(), 0);  // the changed record
  // No request id, UID or caller is ever a label.
  EXPECT_EQ(after.find("04a1b2c3d4e5f6"), std::string::npos);
  EXPECT_EQ(after.find("ipv4:"), std::string::npos);
}

// A ParseTapStream its client cancels counts as OK, in the stream histogram only.
TEST_F(ObservabilityE2eTest, CancelledTapStreamIsNotAnError) {
  auto context = Ctx();
  auto stream = taps_->ParseTapStream(context.get());
  v1::ParseTapStreamRequest chunk;
  chunk.add_records()->set_raw(AsString(Hex(kTapRecord)));
  ASSERT_TRUE(stream->Write(chunk));
  v1::ParseTapStreamResponse answer;
  ASSERT_TRUE(stream->Read(&answer));
  context->TryCancel();
  while (stream->Read(&answer)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  const std::string series = R"(desfired_stream_duration_seconds_count{method="ParseTapStream",)"
                             R"(service="TapService"})";
  // The stream's end reaches the server, which counts it in two series one after the other.
  std::string after = Scrape();
  for (int i = 0; i < 500 && (SampleOr0(after, series) == 0 ||
                              !SampleValue(after, Rpc("TapService", "ParseTapStream", "OK")));
       ++i) {
    absl::SleepFor(absl::Milliseconds(20));
    after = Scrape();
  }
  EXPECT_EQ(SampleValue(after, series), 1) << after;
  EXPECT_EQ(SampleValue(after, Rpc("TapService", "ParseTapStream", "OK")), 1) << after;
  EXPECT_EQ(SampleValue(after, Rpc("TapService", "ParseTapStream", "CANCELLED")), std::nullopt);
  EXPECT_EQ(SampleValue(after, R"(desfired_rpc_duration_seconds_count{method="ParseTapStream",)"
                               R"(service="TapService"})"),
            std::nullopt);
}

// A debit writes a PENDING and a DONE row to the ledger; its retry is replayed and writes none.
TEST_F(ObservabilityE2eTest, LedgerWritesAreCounted) {
  const std::string before = Scrape();
  const v1::DebitRequest req = testing::TransitDebit(transit_, 3, "metrics-ledger-1");
  v1::DebitResponse debit;
  for (int i = 0; i < 2; ++i) {
    grpc::Status s = cards_->Debit(Ctx().get(), req, &debit);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_TRUE(debit.change().replayed());
  const std::string after = Scrape();
  auto moved = [&](absl::string_view sample) {
    return SampleOr0(after, sample) - SampleOr0(before, sample);
  };
  EXPECT_EQ(moved(R"(desfired_ledger_writes_total{event="PENDING"})"), 1);
  EXPECT_EQ(moved(R"(desfired_ledger_writes_total{event="DONE"})"), 1);
  EXPECT_EQ(moved("desfired_ledger_errors_total"), 0);
}

TEST_F(ObservabilityE2eTest, DebitLogLineIsJsonWithRequestIdMethodAndReader) {
  const v1::DebitRequest req = testing::TransitDebit(transit_, 25, "log-test-1");
  v1::DebitResponse debit;
  grpc::Status s = cards_->Debit(Ctx().get(), req, &debit);
  ASSERT_TRUE(s.ok()) << s.error_message();

  const std::vector<std::string> lines = Lines(log_path_);
  ASSERT_FALSE(lines.empty());
  int found = 0;
  for (const std::string& line : lines) {
    google::protobuf::Struct json;
    ASSERT_TRUE(ParseJson(line, &json)) << "not JSON: " << line;
    ASSERT_EQ(Str(json, "ts").size(), 24u) << line;  // 2025-01-02T03:04:05.678Z
    EXPECT_TRUE(absl::EndsWith(Str(json, "ts"), "Z")) << line;
    EXPECT_FALSE(Str(json, "level").empty()) << line;
    if (Str(json, "request_id") != "log-test-1") continue;
    ++found;
    EXPECT_EQ(Str(json, "level"), "info");
    EXPECT_EQ(Str(json, "msg"), "rpc");
    EXPECT_EQ(Str(json, "service"), "CardService");
    EXPECT_EQ(Str(json, "method"), "Debit");
    EXPECT_EQ(Str(json, "reader"), transit_);
    EXPECT_EQ(Str(json, "code"), "OK");
    EXPECT_TRUE(absl::StartsWith(Str(json, "caller"), "ipv4:127.0.0.1:")) << line;
    ASSERT_TRUE(json.fields().contains("latency_ms"));
    EXPECT_GT(json.fields().at("latency_ms").number_value(), 0);
  }
  EXPECT_EQ(found, 1);
  // The start-up line names the ports; no key value is anywhere in the log.
  const std::string text = ReadFile(log_path_);
  EXPECT_NE(text.find(absl::StrCat("\"metrics_port\":", server_->metrics_port())),
            std::string::npos);
  const std::string lower = absl::AsciiStrToLower(text);
  for (const std::string& key : KeyHexes()) {
    EXPECT_EQ(lower.find(key), std::string::npos) << "key " << key << " in the log";
  }
}

// A body that is not a protobuf message of its method: INVALID_ARGUMENT naming the method (gRPC
// alone answers UNIMPLEMENTED with an empty message and runs none of our code), one warn line
// naming the method, and desfired_malformed_requests_total.
TEST_F(ObservabilityE2eTest, MalformedRequestIsInvalidArgumentLoggedAndCounted) {
  grpc::GenericStub generic(channel_);
  // Field 1, length-delimited, announcing 200 bytes of which two come: no message parses it.
  const std::string garbage("\x0a\xc8\x01\xff\xff", 5);
  const std::vector<std::string> methods = {
      "/desfired.v1.CardService/GetCardInfo", "/desfired.v1.CardService/Debit",
      "/desfired.v1.CardService/WatchCards",  // server streaming
      "/desfired.v1.TapService/ParseTaps", "/grpc.health.v1.Health/Check"};
  for (const std::string& method : methods) {
    grpc::Slice slice(garbage);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    std::unique_ptr<grpc::ClientContext> ctx = Ctx();
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(ctx.get(), method, grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) {
                        status = std::move(s);
                        done.Notify();
                      });
    done.WaitForNotification();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method << ": " << status.error_code() << " " << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), method)) << status.error_message();
    EXPECT_EQ(testing::InfoOf(status).reason(), "INVALID_ARGUMENT");
  }
  const std::string metrics = Scrape();
  EXPECT_EQ(
      SampleOr0(metrics,
                R"(desfired_malformed_requests_total{method="GetCardInfo",service="CardService"})"),
      1);
  EXPECT_EQ(
      SampleOr0(metrics,
                R"(desfired_malformed_requests_total{method="WatchCards",service="CardService"})"),
      1);
  EXPECT_EQ(
      SampleOr0(metrics,
                R"(desfired_malformed_requests_total{method="ParseTaps",service="TapService"})"),
      1);
  EXPECT_EQ(
      SampleOr0(metrics, R"(desfired_malformed_requests_total{method="Check",service="Health"})"),
      1);
  // One line per request, naming the method and nothing of the body.
  std::vector<std::string> seen;
  for (const std::string& line : Lines(log_path_)) {
    google::protobuf::Struct json;
    ASSERT_TRUE(ParseJson(line, &json)) << "not JSON: " << line;
    if (Str(json, "msg") != "malformed request") continue;
    EXPECT_EQ(Str(json, "level"), "warn");
    EXPECT_TRUE(absl::StartsWith(Str(json, "peer"), "ipv4:127.0.0.1:")) << line;
    seen.push_back(absl::StrCat("/",
                                Str(json, "service") == "Health" ? "grpc.health.v1" : "desfired.v1",
                                ".", Str(json, "service"), "/", Str(json, "method")));
  }
  EXPECT_EQ(seen, methods);
  // A well-formed call is not counted.
  v1::GetValueResponse value;
  ASSERT_TRUE(GetValue(transit_, &value).ok());
  EXPECT_EQ(
      SampleOr0(Scrape(),
                R"(desfired_malformed_requests_total{method="GetValue",service="CardService"})"),
      0);
}

// The binary: --metrics_listen serves /metrics, --log_file gets JSON lines, SIGTERM is logged;
// a bad --log_format is refused naming the value.
TEST_F(ObservabilityE2eTest, BinaryFlags) {
  const std::string dir = sandbox_->dir();
  const std::string bin_log = dir + "/bin.log";

  testing::DesfiredProcess bad_format(dir, {"--log_format=yaml"});
  EXPECT_EQ(bad_format.Wait(), 2);
  EXPECT_NE(bad_format.err().find("'yaml'"), std::string::npos) << bad_format.err();
  testing::DesfiredProcess bad_metrics(dir,
                                       {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:http"});
  EXPECT_EQ(bad_metrics.Wait(), 1);
  EXPECT_NE(bad_metrics.err().find("metrics_listen"), std::string::npos) << bad_metrics.err();

  testing::DesfiredProcess server(dir, {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                                        absl::StrCat("--pcsc_socket=", dir, "/run/pcscd.comm"),
                                        "--keys=" + key_path_, "--log_file=" + bin_log});
  int metrics_port = 0;
  for (int i = 0; i < 500 && metrics_port == 0; ++i) {
    for (const std::string& line : Lines(bin_log)) {
      google::protobuf::Struct json;
      if (ParseJson(line, &json) && Str(json, "msg") == "listening") {
        metrics_port = static_cast<int>(json.fields().at("metrics_port").number_value());
      }
    }
    if (metrics_port == 0) absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_GT(metrics_port, 0) << ReadFile(bin_log);
  absl::StatusOr<testing::HttpResponse> r = HttpGet(metrics_port, "/metrics");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("\ndesfired_build_info{version=\""), std::string::npos) << r->body;
  EXPECT_EQ(server.Stop(), 0);

  std::vector<std::string> messages;
  for (const std::string& line : Lines(bin_log)) {
    google::protobuf::Struct json;
    ASSERT_TRUE(ParseJson(line, &json)) << "not JSON: " << line;
    messages.push_back(Str(json, "msg"));
  }
  // stderr has the lines too.
  EXPECT_NE(server.err().find(Lines(bin_log).front()), std::string::npos);
  EXPECT_NE(std::find(messages.begin(), messages.end(), "signal received"), messages.end());
  EXPECT_NE(std::find(messages.begin(), messages.end(), "shutting down"), messages.end());
  EXPECT_EQ(messages.back(), "stopped");
}

}  // namespace
}  // namespace desfired
