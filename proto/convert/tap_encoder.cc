#include "proto/convert/tap_encoder.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/json_util.h"
#include "proto/convert/tap_convert.h"

namespace desfired {
namespace {

// Room for every fixed part of one line: names, numbers, times, hex of the UID and MAC, the
// warning list. The variable parts (raw bytes, texts) reserve their own.
constexpr size_t kFixedRoom = 1024;
// The protobuf printer's Timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
constexpr int64_t kMinTimestamp = -62135596800;
constexpr int64_t kMaxTimestamp = 253402300799;
// 1000-01-01T00:00:00Z: from here on absl::FormatTime's %Y has four digits, as ours.
constexpr int64_t kFourDigitYears = -30610224000;
// Non-ASCII texts remembered with their printed form.
constexpr size_t kMaxEscaped = 4096;

char* Put(char* p, absl::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* PutUint(char* p, uint64_t v) { return WriteDecimal(p, v); }

char* PutInt(char* p, int64_t v) {
  if (v >= 0) return PutUint(p, static_cast<uint64_t>(v));
  *p++ = '-';
  return PutUint(p, 0 - static_cast<uint64_t>(v));
}

char* Put2(char* p, unsigned v) {
  *p++ = static_cast<char>('0' + v / 10);
  *p++ = static_cast<char>('0' + v % 10);
  return p;
}

// "YYYY-MM-DD" of `days` since 1970-01-01 in the years 0001..9999 (H. Hinnant's days to civil
// date).
void PutDate(char* p, int64_t days) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const unsigned year = static_cast<unsigned>(yoe + era * 400 + (month <= 2));
  p = Put2(p, year / 100);
  p = Put2(p, year % 100);
  *p++ = '-';
  p = Put2(p, month);
  *p++ = '-';
  Put2(p, day);
}

// "YYYY-MM-DDTHH:MM:SSZ" of `t` in [kMinTimestamp, kMaxTimestamp]. The date of the last day
// written is kept: the records of a file are mostly of a few days.
char* PutTime(char* p, int64_t t) {
  int64_t days = t / 86400;
  int64_t secs = t % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  thread_local int64_t last_days = INT64_MIN;
  thread_local char last_date[10];
  if (days != last_days) {
    PutDate(last_date, days);
    last_days = days;
  }
  p = Put(p, absl::string_view(last_date, 10));
  *p++ = 'T';
  p = Put2(p, static_cast<unsigned>(secs / 3600));
  *p++ = ':';
  p = Put2(p, static_cast<unsigned>(secs / 60 % 60));
  *p++ = ':';
  p = Put2(p, static_cast<unsigned>(secs % 60));
  *p++ = 'Z';
  return p;
}

// The time of the CSV: as absl::FormatTime("%Y-%m-%dT%H:%M:%SZ") writes it. Outside the
// years 1000..9999 through absl, after which `room` bytes are reserved again.
char* PutTextTime(char* p, int64_t t, TextBuffer* out, size_t room) {
  if (t >= kFourDigitYears && t <= kMaxTimestamp) return PutTime(p, t);
  const std::string s =
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(t), absl::UTCTimeZone());
  out->Commit(p);
  out->Append(s);
  return out->Reserve(room);
}

char* PutHex(char* p, const uint8_t* data, size_t n) {
  HexEncodeTo(ByteSpan(data, n), p);
  return p + 2 * n;
}

// `s` left-justified in `width` columns.
char* PutPadded(char* p, absl::string_view s, size_t width) {
  p = Put(p, s);
  for (size_t i = s.size(); i < width; ++i) *p++ = ' ';
  return p;
}

// The warnings of `r`, by name, `sep` between them.
char* PutWarnings(char* p, const tap::TapResult& r, char sep) {
  bool first = true;
  for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) {
    if (!r.has(static_cast<tap::TapWarning>(w))) continue;
    if (!first) *p++ = sep;
    first = false;
    p = Put(p, tap::TapWarningName(static_cast<tap::TapWarning>(w)));
  }
  return p;
}

// An enum value by name: a core result holds only values the proto enums name alike.
char* PutQuoted(char* p, absl::string_view name) {
  *p++ = '"';
  p = Put(p, name);
  *p++ = '"';
  return p;
}

char* PutJsonTime(char* p, absl::string_view key, int64_t t) {
  p = Put(p, key);
  *p++ = '"';
  p = PutTime(p, t);
  *p++ = '"';
  return p;
}

// 0 for a byte the printer writes as it is, 1 for an ASCII byte it escapes, 2 for a byte
// outside ASCII.
struct JsonClass {
  uint8_t of[256];
  constexpr JsonClass() : of() {
    for (int c = 0; c < 256; ++c) {
      of[c] =
          c >= 0x80 ? 2 : (c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == 0x7f);
    }
  }
};
constexpr JsonClass kJsonClass;

// The fields of a decoded record: "record_type", the TapRecord, as ToProto fills it.
char* PutRecord(char* p, const tap::TapFields& f) {
  p = Put(p, ",\"record\":{\"recordType\":");
  p = PutQuoted(p, tap::RecordTypeName(f.type));
  p = PutJsonTime(p, ",\"tapTime\":", f.timestamp);
  if (f.terminal_id != 0) p = PutUint(Put(p, ",\"terminalId\":"), f.terminal_id);
  if (f.fare_product != 0) p = PutUint(Put(p, ",\"fareProduct\":"), f.fare_product);
  if (f.zone_route != 0) p = PutUint(Put(p, ",\"zoneRoute\":"), f.zone_route);
  p = Put(p, ",\"cardUid\":\"");
  p = PutHex(p, f.uid, tap::kUidLength);
  p = Put(p, "\",\"mac\":\"");
  p = PutHex(p, f.mac, tap::kMacLength);
  *p++ = '"';
  if (f.crc8 != 0) p = PutUint(Put(p, ",\"crc8\":"), f.crc8);
  *p++ = '}';
  return p;
}

}  // namespace

absl::string_view TapEncoder::CsvHeader() {
  return "index,status,record_id,record_type,tap_time,terminal_id,fare_product,zone_route,"
         "card_uid,mac,warnings,corrected_tap_time,key_name,error,raw_hex\n";
}

std::string TapEncoder::TableHeader() {
  return absl::StrFormat("%-7s %-8s %-8s %-20s %-8s %-5s %-4s %-16s %s\n", "INDEX", "STATUS",
                         "TYPE", "TAP TIME (UTC)", "TERMINAL", "FARE", "ZONE", "CARD UID",
                         "WARNINGS / ERROR");
}

void TapEncoder::JsonString(absl::string_view s, TextBuffer* out) {
  int worst = 0;
  for (char c : s) worst = std::max<int>(worst, kJsonClass.of[static_cast<unsigned char>(c)]);
  if (worst == 2) {
    auto it = escaped_.find(s);
    if (it == escaped_.end()) {
      // The printer's form of the text in a string field of its own: {"keyName":"..."}.
      google::protobuf::LogSilencer quiet;  // the printer's complaint about text not UTF-8
      proto_.Clear();
      proto_.set_key_name(std::string(s));
      json_.clear();
      (void)google::protobuf::util::MessageToJsonString(proto_, &json_);
      absl::string_view printed = json_;
      absl::ConsumePrefix(&printed, "{\"keyName\":");
      absl::ConsumeSuffix(&printed, "}");
      if (escaped_.size() >= kMaxEscaped) escaped_.clear();
      it = escaped_.emplace(std::string(s), std::string(printed)).first;
    }
    out->Append(it->second);
    return;
  }
  char* p = out->Reserve(6 * s.size() + 2);
  *p++ = '"';
  if (worst == 0) {
    p = Put(p, s);
  } else {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (kJsonClass.of[c] == 0) {
        *p++ = ch;
        continue;
      }
      *p++ = '\\';
      switch (c) {
        case '"':
        case '\\':
          *p++ = ch;
          break;
        case '\b':
          *p++ = 'b';
          break;
        case '\f':
          *p++ = 'f';
          break;
        case '\n':
          *p++ = 'n';
          break;
        case '\r':
          *p++ = 'r';
          break;
        case '\t':
          *p++ = 't';
          break;
        default:
          p = Put(p, "u00");
          *p++ = kHex[c >> 4];
          *p++ = kHex[c & 0xF];
      }
    }
  }
  *p++ = '"';
  out->Commit(p);
}

void TapEncoder::ProtobufJson(const tap::TapResult& r, bool basic, TextBuffer* out) {
  google::protobuf::LogSilencer quiet;
  ToProto(r, &proto_);
  if (basic) {
    proto_.clear_raw_hex();
    proto_.clear_record_id();
    proto_.clear_dedup_key();
  }
  json_.clear();
  (void)google::protobuf::util::MessageToJsonString(proto_, &json_);
  out->Append(json_);
  out->Append("\n");
}

void TapEncoder::Json(const tap::TapResult& r, TextBuffer* out, v1::TapResultView view) {
  const bool rejected = r.status == tap::TapStatus::kRejected;
  const bool basic = view == v1::TAP_RESULT_VIEW_BASIC;
  if (!rejected && r.has_clock_offset &&
      (r.corrected_time < kMinTimestamp || r.corrected_time > kMaxTimestamp)) {
    ProtobufJson(r, basic, out);
    return;
  }
  char* p = out->Reserve(kFixedRoom + 2 * r.raw.size());
  p = Put(p, "{\"status\":");
  p = PutQuoted(p, tap::TapStatusName(r.status));
  if ((r.warnings & ((2u << tap::kLastWarning) - (1u << tap::kFirstWarning))) != 0) {
    p = Put(p, ",\"warnings\":[");
    for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) {
      if ((r.warnings & (1u << w)) == 0) continue;
      if (p[-1] != '[') *p++ = ',';
      *p++ = '"';
      p = Put(p, tap::TapWarningName(static_cast<tap::TapWarning>(w)));
      *p++ = '"';
    }
    *p++ = ']';
  }
  if (rejected) {
    const std::string error =
        r.reject == tap::RejectReason::kUnreadableInput ? std::string() : r.ErrorText();
    const absl::string_view text =
        r.reject == tap::RejectReason::kUnreadableInput ? r.input_error : error;
    if (!text.empty()) {
      p = Put(p, ",\"error\":");
      out->Commit(p);
      JsonString(text, out);
      p = out->Reserve(kFixedRoom + 2 * r.raw.size());
    }
  }
  if (!basic && !r.raw.empty()) {
    p = Put(p, ",\"rawHex\":\"");
    p = PutHex(p, r.raw.data(), r.raw.size());
    *p++ = '"';
  }
  if (rejected) {
    if (r.index != 0) p = Put(PutUint(Put(p, ",\"index\":\""), r.index), "\"");
    *p++ = '}';
    *p++ = '\n';
    out->Commit(p);
    return;
  }
  const tap::TapFields& f = r.fields;
  if (!basic) {
    p = Put(p, ",\"recordId\":\"");
    p = r.WriteRecordId(p);
    *p++ = '"';
  }
  p = PutRecord(p, f);
  if (!basic) {
    p = Put(p, ",\"dedupKey\":\"");
    p = r.WriteDedupKey(p);
    *p++ = '"';
  }
  if (r.index != 0) p = Put(PutUint(Put(p, ",\"index\":\""), r.index), "\"");
  if (r.key_name != nullptr && !r.key_name->empty()) {
    p = Put(p, ",\"keyName\":");
    out->Commit(p);
    JsonString(*r.key_name, out);
    p = out->Reserve(kFixedRoom);
  }
  if (r.mac_algorithm != crypto::MacAlgorithm::kNone) {
    p = Put(p, ",\"macAlgorithm\":");
    p = PutQuoted(p, crypto::MacAlgorithmName(r.mac_algorithm));
  }
  if (r.has_clock_offset) {
    p = PutJsonTime(p, ",\"correctedTapTime\":", r.corrected_time);
    if (r.clock_offset != 0) {
      p = Put(PutInt(Put(p, ",\"clockOffsetSeconds\":\""), r.clock_offset), "\"");
    }
  }
  for (const auto& [key, name] :
       {std::pair<absl::string_view, const std::string*>(",\"terminalName\":", r.terminal_name),
        {",\"fareProductName\":", r.fare_product_name}}) {
    if (name == nullptr || name->empty()) continue;
    p = Put(p, key);
    out->Commit(p);
    JsonString(*name, out);
    p = out->Reserve(kFixedRoom);
  }
  *p++ = '}';
  *p++ = '\n';
  out->Commit(p);
}

void TapEncoder::Csv(const tap::TapResult& r, TextBuffer* out) {
  const size_t room = kFixedRoom + 2 * r.raw.size();
  char* p = out->Reserve(room);
  p = PutUint(p, r.index);
  *p++ = ',';
  p = Put(p, tap::TapStatusName(r.status));
  *p++ = ',';
  if (r.status != tap::TapStatus::kRejected) {
    const tap::TapFields& f = r.fields;
    p = r.WriteRecordId(p);
    *p++ = ',';
    p = Put(p, tap::RecordTypeName(f.type));
    *p++ = ',';
    p = PutTime(p, f.timestamp);  // a uint32: always four digits
    *p++ = ',';
    p = PutUint(p, f.terminal_id);
    *p++ = ',';
    p = PutUint(p, f.fare_product);
    *p++ = ',';
    p = PutUint(p, f.zone_route);
    *p++ = ',';
    p = PutHex(p, f.uid, tap::kUidLength);
    *p++ = ',';
    p = PutHex(p, f.mac, tap::kMacLength);
    *p++ = ',';
    p = PutWarnings(p, r, ';');
    *p++ = ',';
    if (r.has_clock_offset) p = PutTextTime(p, r.corrected_time, out, room);
    *p++ = ',';
    if (r.key_name != nullptr) {
      out->Commit(p);
      out->Append(*r.key_name);
      p = out->Reserve(room);
    }
    p = Put(p, ",,");
  } else {
    p = Put(p, ",,,,,,,,,,,,");
    const std::string error = r.ErrorText();
    out->Commit(p);
    // RFC 4180: in quotes, with "" for a quote, when it holds a comma, a quote or a newline.
    if (error.find_first_of(",\"\n") == std::string::npos) {
      out->Append(error);
    } else {
      p = out->Reserve(2 * error.size() + 2);
      *p++ = '"';
      for (char c : error) {
        if (c == '"') *p++ = '"';
        *p++ = c;
      }
      *p++ = '"';
      out->Commit(p);
    }
    p = out->Reserve(room);
    *p++ = ',';
  }
  p = PutHex(p, r.raw.data(), r.raw.size());
  *p++ = '\n';
  out->Commit(p);
}

void TapEncoder::Row(const tap::TapResult& r, TextBuffer* out) {
  char* p = out->Reserve(kFixedRoom);
  char* start = p;
  p = PutUint(p, r.index);
  while (p - start < 7) *p++ = ' ';
  *p++ = ' ';
  if (r.status == tap::TapStatus::kRejected) {
    p = Put(p, "REJECTED ");
    out->Commit(p);
    out->Append(r.ErrorText());
    out->Append("\n");
    return;
  }
  const tap::TapFields& f = r.fields;
  p = PutPadded(p, tap::TapStatusName(r.status), 8);
  *p++ = ' ';
  p = PutPadded(p, tap::RecordTypeName(f.type), 8);
  *p++ = ' ';
  start = p;
  p = PutTime(p, f.timestamp);
  while (p - start < 20) *p++ = ' ';
  *p++ = ' ';
  // %06x
  static constexpr char kHex[] = "0123456789abcdef";
  int digits = 6;
  while (digits < 8 && (f.terminal_id >> (4 * digits)) != 0) ++digits;
  for (int i = digits - 1; i >= 0; --i) *p++ = kHex[(f.terminal_id >> (4 * i)) & 0xF];
  p = Put(p, "   ");
  start = p;
  p = PutUint(p, f.fare_product);
  while (p - start < 5) *p++ = ' ';
  *p++ = ' ';
  start = p;
  p = PutUint(p, f.zone_route);
  while (p - start < 4) *p++ = ' ';
  *p++ = ' ';
  p = PutHex(p, f.uid, tap::kUidLength);
  *p++ = ' ';
  p = PutWarnings(p, r, ',');
  *p++ = '\n';
  out->Commit(p);
}

}  // namespace desfired
