#include "client/cli/tap_output.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"

namespace desfired::cli {
namespace {

std::string Time(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

std::string Warnings(const v1::TapResult& r, absl::string_view sep) {
  std::vector<std::string> names;
  for (int w : r.warnings()) names.push_back(v1::TapWarning_Name(static_cast<v1::TapWarning>(w)));
  return absl::StrJoin(names, sep);
}

std::string CsvQuote(absl::string_view s) {
  if (s.find_first_of(",\"\n") == absl::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

void V1TapPrinter::Header() {
  if (format_ == TapOutput::kCsv) {
    *out_ << "index,status,record_id,record_type,tap_time,terminal_id,fare_product,zone_route,"
             "card_uid,mac,warnings,corrected_tap_time,key_name,error,raw_hex\n";
  } else if (format_ == TapOutput::kTable) {
    *out_ << absl::StrFormat("%-7s %-8s %-8s %-20s %-8s %-5s %-4s %-16s %s\n", "INDEX", "STATUS",
                             "TYPE", "TAP TIME (UTC)", "TERMINAL", "FARE", "ZONE", "CARD UID",
                             "WARNINGS / ERROR");
  }
}

void V1TapPrinter::Print(const v1::TapResult& r) {
  const bool rejected = r.status() == v1::TapResult::REJECTED;
  const v1::TapRecord& f = r.record();
  switch (format_) {
    case TapOutput::kJson: {
      google::protobuf::util::JsonPrintOptions options;
      options.add_whitespace = false;
      json_.clear();
      (void)google::protobuf::util::MessageToJsonString(r, &json_, options);
      *out_ << json_ << '\n';
      break;
    }
    case TapOutput::kCsv:
      *out_ << r.index() << ',' << v1::TapResult::Status_Name(r.status()) << ',';
      if (!rejected) {
        *out_ << r.record_id() << ',' << v1::TapRecord::Type_Name(f.record_type()) << ','
              << Time(f.tap_time()) << ',' << f.terminal_id() << ',' << f.fare_product() << ','
              << f.zone_route() << ',' << f.card_uid() << ',' << f.mac() << ',' << Warnings(r, ";")
              << ',' << (r.has_corrected_tap_time() ? Time(r.corrected_tap_time()) : "") << ','
              << r.key_name() << ",,";
      } else {
        *out_ << ",,,,,,,,,,,," << CsvQuote(r.error()) << ',';
      }
      *out_ << r.raw_hex() << '\n';
      break;
    case TapOutput::kTable:
      if (rejected) {
        *out_ << absl::StrFormat("%-7d %-8s %s\n", r.index(), "REJECTED", r.error());
      } else {
        *out_ << absl::StrFormat("%-7d %-8s %-8s %-20s %06x   %-5d %-4d %-16s %s\n", r.index(),
                                 v1::TapResult::Status_Name(r.status()),
                                 v1::TapRecord::Type_Name(f.record_type()), Time(f.tap_time()),
                                 f.terminal_id(), f.fare_product(), f.zone_route(), f.card_uid(),
                                 Warnings(r, ","));
      }
      break;
  }
}

std::string TapSummaryText(const v1::TapSummary& s) {
  std::string out = absl::StrCat(s.total(), " records: ", s.valid(), " valid, ", s.flagged(),
                                 " flagged, ", s.rejected(), " rejected");
  const char* sep = "; warnings: ";
  for (const v1::TapSummary::WarningCount& w : s.warnings()) {
    absl::StrAppend(&out, sep, v1::TapWarning_Name(w.warning()), " ", w.count());
    sep = ", ";
  }
  if (!s.unknown_terminals().empty()) {
    absl::StrAppend(&out, "; unknown terminals: ", s.unknown_terminals_size());
  }
  if (!s.unknown_fare_products().empty()) {
    absl::StrAppend(&out, "; unknown fare products: ", s.unknown_fare_products_size());
  }
  return out;
}

}  // namespace desfired::cli
