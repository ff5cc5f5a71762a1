#include "client/cli/tap_output.h"

#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "proto/convert/tap_convert.h"

namespace desfired::cli {
namespace {

std::string FormatTime(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

std::string WarningList(const tap::TapResult& r, absl::string_view sep) {
  std::vector<absl::string_view> names;
  for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) {
    if (r.has(static_cast<tap::TapWarning>(w))) {
      names.push_back(tap::TapWarningName(static_cast<tap::TapWarning>(w)));
    }
  }
  return absl::StrJoin(names, sep);
}

// A CSV field (RFC 4180): in quotes, with "" for a quote, when it holds a comma, a quote or a
// newline.
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

TapPrinter::TapPrinter(TapOutput format, std::ostream* out) : format_(format), out_(out) {
  json_options_.add_whitespace = false;
}

void TapPrinter::Header() {
  if (format_ == TapOutput::kCsv) {
    *out_ << "index,status,record_id,record_type,tap_time,terminal_id,fare_product,zone_route,"
             "card_uid,mac,warnings,corrected_tap_time,key_name,error,raw_hex\n";
  } else if (format_ == TapOutput::kTable) {
    *out_ << absl::StrFormat("%-7s %-8s %-8s %-20s %-8s %-5s %-4s %-16s %s\n", "INDEX", "STATUS",
                             "TYPE", "TAP TIME (UTC)", "TERMINAL", "FARE", "ZONE", "CARD UID",
                             "WARNINGS / ERROR");
  }
}

void TapPrinter::Print(const tap::TapResult& r) {
  switch (format_) {
    case TapOutput::kJson:
      ToProto(r, &proto_);
      json_.clear();
      (void)google::protobuf::util::MessageToJsonString(proto_, &json_, json_options_);
      *out_ << json_ << '\n';
      break;
    case TapOutput::kCsv:
      PrintCsv(r);
      break;
    case TapOutput::kTable:
      PrintRow(r);
      break;
  }
}

void TapPrinter::PrintCsv(const tap::TapResult& r) {
  const tap::TapFields& f = r.fields;
  *out_ << r.index << ',' << tap::TapStatusName(r.status) << ',';
  if (r.status != tap::TapStatus::kRejected) {
    *out_ << r.RecordId() << ',' << tap::RecordTypeName(f.type) << ',' << FormatTime(f.timestamp)
          << ',' << f.terminal_id << ',' << f.fare_product << ',' << f.zone_route << ','
          << HexEncode(ByteSpan(f.uid, tap::kUidLength)) << ','
          << HexEncode(ByteSpan(f.mac, tap::kMacLength)) << ',' << WarningList(r, ";") << ','
          << (r.has_clock_offset ? FormatTime(r.corrected_time) : "") << ','
          << (r.key_name != nullptr ? *r.key_name : "") << ",,";
  } else {
    *out_ << ",,,,,,,,,,,," << CsvQuote(r.ErrorText()) << ',';
  }
  *out_ << HexEncode(r.raw) << '\n';
}

void TapPrinter::PrintRow(const tap::TapResult& r) {
  if (r.status == tap::TapStatus::kRejected) {
    *out_ << absl::StrFormat("%-7d %-8s %s\n", r.index, "REJECTED", r.ErrorText());
    return;
  }
  const tap::TapFields& f = r.fields;
  *out_ << absl::StrFormat("%-7d %-8s %-8s %-20s %06x   %-5d %-4d %-16s %s\n", r.index,
                           tap::TapStatusName(r.status), tap::RecordTypeName(f.type),
                           FormatTime(f.timestamp), f.terminal_id, f.fare_product, f.zone_route,
                           HexEncode(ByteSpan(f.uid, tap::kUidLength)), WarningList(r, ","));
}

}  // namespace desfired::cli
