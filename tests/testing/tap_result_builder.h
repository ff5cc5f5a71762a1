// Tap results built from arbitrary bytes (a fuzzer's input, or random bytes), and the
// reference encodings TapEncoder (proto/convert/tap_encoder.h) must equal: the protobuf JSON
// printer over ToProto for JSON, and absl::StrFormat for the CSV and the table (the printer
// of `desfirectl taps parse` before TapEncoder); and the one the wire encoder
// (proto/convert/tap_wire.h) must equal, protobuf's serializer over ToProto.
//
// A built result holds what a core result can hold (the statuses, record types and MAC
// algorithms the core knows) with every other field free: any warning bits, raw bytes, index,
// ids, times and clock offsets, and texts with any bytes (invalid UTF-8 included).
#ifndef DESFIRED_TESTS_TESTING_TAP_RESULT_BUILDER_H_
#define DESFIRED_TESTS_TESTING_TAP_RESULT_BUILDER_H_

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "core/tap/result.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/json_util.h"
#include "proto/convert/tap_convert.h"

namespace desfired::testing {

// Reads values from bytes; zeros once they run out.
class ByteSource {
 public:
  ByteSource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t Take(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = v << 8 | (pos_ < size_ ? data_[pos_++] : 0);
    return v;
  }
  std::string Text() {
    const size_t n = Take(1) % 24;
    std::string s;
    for (size_t i = 0; i < n; ++i) {
      // Mostly printable ASCII; some escapes and bytes above 0x7F.
      const uint8_t b = static_cast<uint8_t>(Take(1));
      s.push_back(static_cast<char>(b < 0xC0 ? 0x20 + b % 0x5F : b));
    }
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// A result and the storage it borrows.
struct BuiltResult {
  tap::TapResult result;
  Bytes raw;
  std::string key_name, terminal_name, fare_product_name, input_error;
};

inline void BuildResult(ByteSource& in, BuiltResult* out) {
  tap::TapResult& r = out->result;
  r = tap::TapResult{};
  const uint64_t shape = in.Take(2);
  r.index = shape & 1 ? in.Take(8) : in.Take(1);
  r.status = static_cast<tap::TapStatus>(1 + in.Take(1) % 3);
  r.warnings = static_cast<uint16_t>(in.Take(2));
  r.reject = static_cast<tap::RejectReason>(in.Take(1) % 5);
  r.reject_detail = static_cast<uint32_t>(in.Take(4));
  out->input_error = in.Text();
  r.input_error = out->input_error;
  out->raw.resize(in.Take(1) % 70);
  for (uint8_t& b : out->raw) b = static_cast<uint8_t>(in.Take(1));
  r.raw = out->raw;
  tap::TapFields& f = r.fields;
  f.type = static_cast<tap::RecordType>(1 + in.Take(1) % 3);
  f.timestamp = static_cast<uint32_t>(in.Take(4));
  f.terminal_id = static_cast<uint32_t>(shape & 2 ? in.Take(4) : in.Take(1));
  f.fare_product = static_cast<uint32_t>(shape & 4 ? in.Take(4) : in.Take(1));
  f.zone_route = static_cast<uint32_t>(shape & 8 ? in.Take(4) : in.Take(1));
  for (uint8_t& b : f.uid) b = static_cast<uint8_t>(in.Take(1));
  for (uint8_t& b : f.mac) b = static_cast<uint8_t>(in.Take(1));
  f.crc8 = static_cast<uint8_t>(in.Take(1));
  r.mac_algorithm = static_cast<crypto::MacAlgorithm>(in.Take(1) % 4);
  out->key_name = in.Text();
  if (shape & 16) r.key_name = &out->key_name;
  r.has_clock_offset = (shape & 32) != 0;
  r.clock_offset = static_cast<int64_t>(shape & 64 ? in.Take(8) : in.Take(2) - 0x8000);
  r.corrected_time = shape & 128 ? static_cast<int64_t>(in.Take(8))
                                 : static_cast<int64_t>(f.timestamp) - r.clock_offset;
  out->terminal_name = in.Text();
  if (shape & 256) r.terminal_name = &out->terminal_name;
  out->fare_product_name = in.Text();
  if (shape & 512) r.fare_product_name = &out->fare_product_name;
}

// Calls check(result) on a FLAGGED result whose key, terminal and fare product names are
// `text`, then on a REJECTED one whose unreadable-input error is `text`.
template <typename Check>
void ForResultsWithText(const std::string& text, Check check) {
  tap::TapResult r;
  r.status = tap::TapStatus::kFlagged;
  r.key_name = &text;
  r.terminal_name = &text;
  r.fare_product_name = &text;
  check(r);
  r.status = tap::TapStatus::kRejected;
  r.reject = tap::RejectReason::kUnreadableInput;
  r.input_error = text;
  check(r);
}

// Calls check(result) on `count` results built from random bytes (generator seeded with
// `seed`), until it returns false.
template <typename Check>
void ForRandomResults(uint64_t seed, int count, Check check) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> bytes(256);
  BuiltResult built;
  for (int i = 0; i < count; ++i) {
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    ByteSource in(bytes.data(), bytes.size());
    BuildResult(in, &built);
    if (!check(built.result)) return;
  }
}

// The bytes protobuf's serializer writes for a ParseTapsResponse with the one result
// ToProto(r) in `view` (and no summary): what AppendTapResultField must write as field 1.
inline std::string ReferenceWire(const tap::TapResult& r, v1::TapResultView view) {
  google::protobuf::LogSilencer quiet;  // about texts that are not UTF-8
  v1::ParseTapsResponse response;
  v1::TapResult* proto = response.add_results();
  ToProto(r, proto);
  if (view == v1::TAP_RESULT_VIEW_BASIC) {
    proto->clear_raw_hex();
    proto->clear_record_id();
    proto->clear_dedup_key();
  }
  return response.SerializeAsString();
}

// The JSON line of the protobuf printer (what `taps parse --json` printed before TapEncoder).
// The protobuf printer's JSON of ToProto(r) in `view` (BASIC: as TapService answers in it,
// without raw_hex, record_id and dedup_key).
inline std::string ReferenceJson(const tap::TapResult& r,
                                 v1::TapResultView view = v1::TAP_RESULT_VIEW_FULL) {
  google::protobuf::LogSilencer quiet;  // about texts that are not UTF-8
  v1::TapResult proto;
  ToProto(r, &proto);
  if (view == v1::TAP_RESULT_VIEW_BASIC) {
    proto.clear_raw_hex();
    proto.clear_record_id();
    proto.clear_dedup_key();
  }
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(proto, &json);
  return json + "\n";
}

inline std::string ReferenceTime(int64_t t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(t), absl::UTCTimeZone());
}

inline std::string ReferenceWarnings(const tap::TapResult& r, absl::string_view sep) {
  std::vector<absl::string_view> names;
  for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) {
    if (r.has(static_cast<tap::TapWarning>(w))) {
      names.push_back(tap::TapWarningName(static_cast<tap::TapWarning>(w)));
    }
  }
  return absl::StrJoin(names, sep);
}

inline std::string ReferenceCsv(const tap::TapResult& r) {
  const tap::TapFields& f = r.fields;
  std::string out = absl::StrCat(r.index, ",", tap::TapStatusName(r.status), ",");
  if (r.status != tap::TapStatus::kRejected) {
    absl::StrAppend(&out, r.RecordId(), ",", tap::RecordTypeName(f.type), ",",
                    ReferenceTime(f.timestamp), ",", f.terminal_id, ",", f.fare_product, ",",
                    f.zone_route, ",", HexEncode(ByteSpan(f.uid, tap::kUidLength)), ",",
                    HexEncode(ByteSpan(f.mac, tap::kMacLength)), ",", ReferenceWarnings(r, ";"),
                    ",", r.has_clock_offset ? ReferenceTime(r.corrected_time) : "", ",",
                    r.key_name != nullptr ? *r.key_name : "", ",,");
  } else {
    std::string error = r.ErrorText();
    if (error.find_first_of(",\"\n") != std::string::npos) {
      std::string quoted = "\"";
      for (char c : error) quoted.append(c == '"' ? 2 : 1, c);
      error = quoted + "\"";
    }
    absl::StrAppend(&out, ",,,,,,,,,,,,", error, ",");
  }
  return absl::StrCat(out, HexEncode(r.raw), "\n");
}

inline std::string ReferenceRow(const tap::TapResult& r) {
  if (r.status == tap::TapStatus::kRejected) {
    return absl::StrFormat("%-7d %-8s %s\n", r.index, "REJECTED", r.ErrorText());
  }
  const tap::TapFields& f = r.fields;
  return absl::StrFormat("%-7d %-8s %-8s %-20s %06x   %-5d %-4d %-16s %s\n", r.index,
                         tap::TapStatusName(r.status), tap::RecordTypeName(f.type),
                         ReferenceTime(f.timestamp), f.terminal_id, f.fare_product, f.zone_route,
                         HexEncode(ByteSpan(f.uid, tap::kUidLength)), ReferenceWarnings(r, ","));
}

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_TAP_RESULT_BUILDER_H_
