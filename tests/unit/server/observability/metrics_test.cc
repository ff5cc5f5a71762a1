#include "server/observability/metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "core/tap/result.h"
#include "tests/testing/http_get.h"
#include "tests/testing/prometheus_text.h"

namespace desfired::server {
namespace {

using testing::SampleOr0;
using testing::SampleValue;

std::unique_ptr<Metrics> NewMetrics(const std::string& listen = "") {
  auto metrics = Metrics::Create({.listen = listen});
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  return metrics.ok() ? *std::move(metrics) : nullptr;
}

TEST(MetricsTest, EveryFamilyIsRegisteredWithHelpAndType) {
  auto m = NewMetrics();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->port(), 0);
  // Series that exist from the start, at zero (so that a rate() has a base).
  std::string text = m->Serialize();
  EXPECT_EQ(SampleValue(text, "desfired_cards_seen_total"), 0);
  EXPECT_EQ(SampleValue(text, "desfired_ledger_errors_total"), 0);
  for (const char* status : {"valid", "flagged", "rejected"}) {
    EXPECT_EQ(SampleValue(text, std::string("desfired_tap_records_parsed_total{status=\"") +
                                    status + "\"}"),
              0)
        << status;
  }
  for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) {
    const std::string name(tap::TapWarningName(static_cast<tap::TapWarning>(w)));
    EXPECT_EQ(SampleValue(text, "desfired_tap_warnings_total{warning=\"" + name + "\"}"), 0)
        << name;
  }
  EXPECT_EQ(SampleValue(text, "desfired_readers"), 0);
  EXPECT_EQ(SampleValue(text, "desfired_watchers"), 0);
  EXPECT_NE(text.find("desfired_build_info{version=\""), std::string::npos);

  // A family with labels shows once it has a series.
  m->CallDone("CardService", "Debit", "OK", absl::Milliseconds(1));
  m->ApduDone("Reader A 00 00", absl::Milliseconds(1), false);
  m->LedgerWrite("DEBIT");
  text = m->Serialize();
  for (const char* family :
       {"desfired_rpc_total counter", "desfired_rpc_duration_seconds histogram",
        "desfired_apdu_total counter", "desfired_apdu_errors_total counter",
        "desfired_apdu_duration_seconds histogram", "desfired_cards_seen_total counter",
        "desfired_ledger_writes_total counter", "desfired_ledger_errors_total counter",
        "desfired_tap_records_parsed_total counter", "desfired_tap_warnings_total counter",
        "desfired_readers gauge", "desfired_watchers gauge", "desfired_build_info gauge"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family), std::string::npos) << family;
  }
}

TEST(MetricsTest, RpcCountsByCodeAndLatencyBuckets) {
  auto m = NewMetrics();
  m->CallDone("CardService", "Debit", "OK", absl::Milliseconds(3));
  m->CallDone("CardService", "Debit", "OK", absl::Seconds(20));
  m->CallDone("CardService", "Debit", "OUT_OF_RANGE", absl::Milliseconds(40));
  m->CallDone("TapService", "ParseTaps", "OK", absl::Microseconds(200));
  const std::string text = m->Serialize();
  EXPECT_EQ(
      SampleOr0(text, R"(desfired_rpc_total{code="OK",method="Debit",service="CardService"})"), 2);
  EXPECT_EQ(SampleOr0(text, R"(desfired_rpc_total{code="OUT_OF_RANGE",method="Debit",)"
                            R"(service="CardService"})"),
            1);
  EXPECT_EQ(SampleOr0(text, R"(desfired_rpc_total{code="OK",method="ParseTaps",)"
                            R"(service="TapService"})"),
            1);
  const std::string debit = R"(method="Debit",service="CardService")";
  EXPECT_EQ(SampleOr0(text, "desfired_rpc_duration_seconds_count{" + debit + "}"), 3);
  EXPECT_EQ(SampleOr0(text, "desfired_rpc_duration_seconds_bucket{" + debit + ",le=\"0.001\"}"), 0);
  EXPECT_EQ(SampleOr0(text, "desfired_rpc_duration_seconds_bucket{" + debit + ",le=\"0.005\"}"), 1);
  EXPECT_EQ(SampleOr0(text, "desfired_rpc_duration_seconds_bucket{" + debit + ",le=\"0.05\"}"), 2);
  EXPECT_EQ(SampleOr0(text, "desfired_rpc_duration_seconds_bucket{" + debit + ",le=\"10\"}"), 2);
  EXPECT_EQ(SampleOr0(text, "desfired_rpc_duration_seconds_bucket{" + debit + ",le=\"30\"}"), 3);
  EXPECT_EQ(SampleOr0(text, "desfired_rpc_duration_seconds_bucket{" + debit + ",le=\"+Inf\"}"), 3);
}

// A stream's lifetime goes to its own histogram; a reader seen has its APDU series at 0.
TEST(MetricsTest, StreamsApartAndReaderSeriesFromZero) {
  auto m = NewMetrics();
  m->CallDone("CardService", "WatchCards", "OK", absl::Seconds(90), /*stream=*/true);
  m->ReaderSeen("Reader C 02 00");
  const std::string text = m->Serialize();
  const std::string watch = R"(method="WatchCards",service="CardService")";
  EXPECT_EQ(SampleValue(text, "desfired_stream_duration_seconds_count{" + watch + "}"), 1);
  EXPECT_EQ(SampleValue(text, "desfired_stream_duration_seconds_bucket{" + watch + ",le=\"60\"}"),
            0);
  EXPECT_EQ(SampleValue(text, "desfired_rpc_duration_seconds_count{" + watch + "}"), std::nullopt);
  EXPECT_EQ(SampleValue(text, R"(desfired_rpc_total{code="OK",)" + watch + "}"), 1);
  for (const char* series : {"desfired_apdu_total", "desfired_apdu_errors_total",
                             "desfired_apdu_duration_seconds_count"}) {
    EXPECT_EQ(SampleValue(text, std::string(series) + R"({reader="Reader C 02 00"})"), 0) << series;
  }
}

TEST(MetricsTest, ApdusPerReaderCardsLedgerAndTaps) {
  auto m = NewMetrics();
  m->ApduDone("Reader A 00 00", absl::Milliseconds(2), true);
  m->ApduDone("Reader A 00 00", absl::Milliseconds(2), true);
  m->ApduDone("Reader B 01 00", absl::Milliseconds(30), false);
  m->CardSeen();
  m->CardSeen();
  m->LedgerWrite("DEBIT");
  m->LedgerWrite("DEBIT");
  m->LedgerWrite("CREDIT");
  m->LedgerError();
  tap::TapSummary summary;
  summary.total = 7;
  summary.valid = 4;
  summary.flagged = 2;
  summary.rejected = 1;
  summary.warnings[static_cast<int>(tap::TapWarning::kCrc8Mismatch)] = 2;
  summary.warnings[static_cast<int>(tap::TapWarning::kMacNotVerified)] = 1;
  m->TapsParsed(summary);
  m->TapsParsed(summary);

  const std::string text = m->Serialize();
  EXPECT_EQ(SampleOr0(text, R"(desfired_apdu_total{reader="Reader A 00 00"})"), 2);
  EXPECT_EQ(SampleOr0(text, R"(desfired_apdu_total{reader="Reader B 01 00"})"), 1);
  EXPECT_EQ(SampleOr0(text, R"(desfired_apdu_errors_total{reader="Reader B 01 00"})"), 1);
  EXPECT_EQ(SampleValue(text, R"(desfired_apdu_errors_total{reader="Reader A 00 00"})"),
            std::nullopt);
  EXPECT_EQ(SampleOr0(text, R"(desfired_apdu_duration_seconds_count{reader="Reader A 00 00"})"), 2);
  EXPECT_EQ(SampleOr0(text, "desfired_cards_seen_total"), 2);
  EXPECT_EQ(SampleOr0(text, R"(desfired_ledger_writes_total{event="DEBIT"})"), 2);
  EXPECT_EQ(SampleOr0(text, R"(desfired_ledger_writes_total{event="CREDIT"})"), 1);
  EXPECT_EQ(SampleOr0(text, "desfired_ledger_errors_total"), 1);
  EXPECT_EQ(SampleOr0(text, R"(desfired_tap_records_parsed_total{status="valid"})"), 8);
  EXPECT_EQ(SampleOr0(text, R"(desfired_tap_records_parsed_total{status="flagged"})"), 4);
  EXPECT_EQ(SampleOr0(text, R"(desfired_tap_records_parsed_total{status="rejected"})"), 2);
  EXPECT_EQ(SampleOr0(text, R"(desfired_tap_warnings_total{warning="CRC8_MISMATCH"})"), 4);
  EXPECT_EQ(SampleOr0(text, R"(desfired_tap_warnings_total{warning="MAC_NOT_VERIFIED"})"), 2);
  EXPECT_EQ(SampleOr0(text, R"(desfired_tap_warnings_total{warning="DUPLICATE_TAP"})"), 0);
}

TEST(MetricsTest, GaugesAreReadWhenScrapedUntilCleared) {
  auto m = NewMetrics();
  int watchers = 3;
  m->SetWatchersSource([&watchers] { return watchers; });
  m->SetReadersSource([] { return 2; });
  EXPECT_EQ(SampleValue(m->Serialize(), "desfired_watchers"), 3);
  watchers = 5;
  EXPECT_EQ(SampleValue(m->Serialize(), "desfired_watchers"), 5);
  EXPECT_EQ(SampleValue(m->Serialize(), "desfired_readers"), 2);
  m->ClearSources();
  EXPECT_EQ(SampleValue(m->Serialize(), "desfired_watchers"), 0);
  EXPECT_EQ(SampleValue(m->Serialize(), "desfired_readers"), 0);
}

TEST(MetricsTest, ServedOverHttpOnTheBoundPort) {
  auto m = NewMetrics("127.0.0.1:0");
  ASSERT_NE(m, nullptr);
  ASSERT_GT(m->port(), 0);
  m->CallDone("CardService", "ListReaders", "OK", absl::Microseconds(300));
  m->SetWatchersSource([] { return 7; });
  absl::StatusOr<testing::HttpResponse> r = testing::HttpGet(m->port(), "/metrics");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(SampleOr0(r->body, R"(desfired_rpc_total{code="OK",method="ListReaders",)"
                               R"(service="CardService"})"),
            1);
  EXPECT_EQ(SampleValue(r->body, "desfired_watchers"), 7);
  EXPECT_NE(r->body.find("# TYPE desfired_tap_warnings_total counter"), std::string::npos);

  // The port is taken: a second endpoint on it fails, naming the setting.
  auto second = Metrics::Create({.listen = absl::StrCat("127.0.0.1:", m->port())});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("metrics_listen"), absl::string_view::npos);
}

TEST(MetricsTest, BadListenAddressesAreNamed) {
  for (const char* listen : {"9464", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", ":80"}) {
    auto m = Metrics::Create({.listen = listen});
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << listen;
    EXPECT_NE(m.status().message().find(absl::StrCat("metrics_listen: '", listen, "'")),
              absl::string_view::npos)
        << m.status();
  }
}

}  // namespace
}  // namespace desfired::server
