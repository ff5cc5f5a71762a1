#include "server/observability/observability.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/testing/prometheus_text.h"

namespace desfired::server {
namespace {

using testing::SampleOr0;

class ObservabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "obs_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    log_path_ = tmpl + "/obs.log";
    auto logger =
        log::Logger::Create({.to_stderr = false, .file = log_path_, .use_env_file = false});
    ASSERT_TRUE(logger.ok()) << logger.status();
    auto obs = Observability::Create({.logger = *logger});
    ASSERT_TRUE(obs.ok()) << obs.status();
    obs_ = *std::move(obs);
  }

  // The log lines written so far, parsed.
  std::vector<google::protobuf::Struct> Lines() {
    std::ifstream in(log_path_);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::vector<google::protobuf::Struct> lines;
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      lines.emplace_back();
      EXPECT_TRUE(
          google::protobuf::util::JsonStringToMessage(std::string(line), &lines.back()).ok())
          << line;
    }
    return lines;
  }

  static std::string Field(const google::protobuf::Struct& line, const std::string& key) {
    auto it = line.fields().find(key);
    if (it == line.fields().end()) return "<absent>";
    return it->second.has_number_value() ? "<number>" : it->second.string_value();
  }

  std::string log_path_;
  std::unique_ptr<Observability> obs_;
};

TEST_F(ObservabilityTest, HooksKeepTheInnerOnesAndAddMetricsAndOneLinePerCall) {
  std::vector<std::string> inner_calls;
  ServerHooks inner;
  inner.authorize = [](grpc::CallbackServerContext*, absl::string_view method) {
    return method == "FormatCard" ? absl::PermissionDeniedError("no") : absl::OkStatus();
  };
  inner.caller = [](grpc::CallbackServerContext*) { return std::string("alice"); };
  inner.on_call_done = [&](const CallInfo& info) {
    inner_calls.push_back(std::string(info.method));
  };
  inner.on_taps_parsed = [&](const tap::TapSummary&) { inner_calls.push_back("taps"); };
  const ServerHooks hooks = MakeObservabilityHooks(*obs_, inner);

  EXPECT_EQ(hooks.authorize(nullptr, "FormatCard").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(hooks.authorize(nullptr, "Debit").ok());
  EXPECT_EQ(hooks.caller(nullptr), "alice");

  CallInfo debit;
  debit.service = "CardService";
  debit.method = "Debit";
  debit.caller = "alice";
  debit.request_id = "log-unit-1";
  debit.reader = "Test PCD 0 00";
  debit.code = grpc::StatusCode::OUT_OF_RANGE;
  debit.reason = "INSUFFICIENT_VALUE";
  debit.latency = absl::Microseconds(12345);
  debit.change_outcome = "NOT_COMMITTED";
  hooks.on_call_done(debit);
  CallInfo internal;
  internal.service = "TapService";
  internal.method = "ParseTaps";
  internal.code = grpc::StatusCode::INTERNAL;
  hooks.on_call_done(internal);
  tap::TapSummary summary;
  summary.rejected = 3;
  hooks.on_taps_parsed(summary);

  EXPECT_EQ(inner_calls, (std::vector<std::string>{"Debit", "ParseTaps", "taps"}));
  const std::string text = obs_->metrics().Serialize();
  EXPECT_EQ(SampleOr0(text, R"(desfired_rpc_total{code="OUT_OF_RANGE",method="Debit",)"
                            R"(service="CardService"})"),
            1);
  EXPECT_EQ(SampleOr0(text, R"(desfired_rpc_total{code="INTERNAL",method="ParseTaps",)"
                            R"(service="TapService"})"),
            1);
  EXPECT_EQ(SampleOr0(text, R"(desfired_tap_records_parsed_total{status="rejected"})"), 3);
  EXPECT_EQ(SampleOr0(text, R"(desfired_changes_total{method="Debit",outcome="NOT_COMMITTED"})"),
            1);

  const std::vector<google::protobuf::Struct> lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(Field(lines[0], "level"), "info");
  EXPECT_EQ(Field(lines[0], "msg"), "rpc");
  EXPECT_EQ(Field(lines[0], "service"), "CardService");
  EXPECT_EQ(Field(lines[0], "method"), "Debit");
  EXPECT_EQ(Field(lines[0], "request_id"), "log-unit-1");
  EXPECT_EQ(Field(lines[0], "reader"), "Test PCD 0 00");
  EXPECT_EQ(Field(lines[0], "caller"), "alice");
  EXPECT_EQ(Field(lines[0], "code"), "OUT_OF_RANGE");
  EXPECT_EQ(Field(lines[0], "reason"), "INSUFFICIENT_VALUE");
  EXPECT_EQ(lines[0].fields().at("latency_ms").number_value(), 12.345);
  EXPECT_EQ(Field(lines[0], "replayed"), "<absent>");
  EXPECT_EQ(Field(lines[0], "change_outcome"), "NOT_COMMITTED");
  EXPECT_EQ(Field(lines[1], "level"), "warn");  // a server fault
  EXPECT_EQ(Field(lines[1], "request_id"), "<absent>");
  EXPECT_EQ(Field(lines[1], "code"), "INTERNAL");
}

TEST_F(ObservabilityTest, HooksWorkWithoutInnerHooks) {
  const ServerHooks hooks = MakeObservabilityHooks(*obs_, ServerHooks{});
  EXPECT_EQ(hooks.authorize, nullptr);
  EXPECT_EQ(hooks.caller, nullptr);
  CallInfo info;
  info.service = "CardService";
  info.method = "ListReaders";
  hooks.on_call_done(info);
  hooks.on_taps_parsed(tap::TapSummary{});
  EXPECT_EQ(
      SampleOr0(obs_->metrics().Serialize(),
                R"(desfired_rpc_total{code="OK",method="ListReaders",service="CardService"})"),
      1);
}

TEST_F(ObservabilityTest, CardEventsApdusAndPcscd) {
  obs_->OnCardEvent(CardEventKind::kReaderAdded, "Test PCD 0 00");
  obs_->OnCardEvent(CardEventKind::kCardInserted, "Test PCD 0 00");
  obs_->OnCardEvent(CardEventKind::kCardRemoved, "Test PCD 0 00");
  obs_->OnCardEvent(CardEventKind::kCardInserted, "Test PCD 0 00");
  obs_->ApduObserver()("Test PCD 0 00", absl::Milliseconds(1), true);
  obs_->OnPcscAvailable(true);  // at start: nothing to say
  obs_->OnPcscAvailable(false);
  obs_->OnPcscAvailable(true);
  const std::string text = obs_->metrics().Serialize();
  EXPECT_EQ(SampleOr0(text, "desfired_cards_seen_total"), 2);
  EXPECT_EQ(SampleOr0(text, R"(desfired_apdu_total{reader="Test PCD 0 00"})"), 1);
  const std::vector<google::protobuf::Struct> lines = Lines();  // card events are debug
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(Field(lines[0], "msg"), "reader added");
  EXPECT_EQ(Field(lines[0], "reader"), "Test PCD 0 00");
  EXPECT_EQ(Field(lines[1], "level"), "warn");
  EXPECT_NE(Field(lines[1], "msg").find("pcscd lost"), std::string::npos);
  EXPECT_EQ(Field(lines[2], "msg"), "pcscd reachable again");
}

TEST(GrpcCodeNameTest, NamesEveryCode) {
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::DATA_LOSS), "DATA_LOSS");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::DO_NOT_USE), "UNKNOWN");
}

}  // namespace
}  // namespace desfired::server
