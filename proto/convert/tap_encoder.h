// The text encodings of a tap result (core/tap/result.h) that `desfirectl taps parse` prints:
// one line of proto3 JSON of desfired.v1.TapResult, one CSV record, or one table row, each
// appended to a TextBuffer without building a message or a string per record. The HTTP API's
// POST /v1/taps:parse writes its JSON lines with it too.
//
// The JSON is byte for byte what google::protobuf::util::MessageToJsonString prints for
// ToProto(result) (proto/convert/tap_convert.h), with the fields of the view (BASIC: no
// rawHex, recordId, dedupKey, as TapService answers in that view), with the options desfirectl
// has always used
// (no whitespace, lowerCamelCase names, fields with default values left out, enums by name,
// 64-bit integers as strings, Timestamps as RFC 3339), tests/unit/proto/tap_encoder_test.cc
// and the tap_encoder_fuzz target check it. Two rare cases go through the protobuf printer
// itself, so that they stay the same by construction: a string field with a byte outside
// ASCII (the printer's escaping and UTF-8 handling; its escaped form is cached per text), and a
// corrected tap time outside the years 0001..9999 (the whole record).
//
//   TextBuffer buf;
//   TapEncoder encoder;
//   encoder.Json(result, &buf);  // "{"status":"VALID",...}\n"
//   fwrite(buf.data(), 1, buf.size(), stdout);
//
// Thread-compatible.
#ifndef DESFIRED_PROTO_CONVERT_TAP_ENCODER_H_
#define DESFIRED_PROTO_CONVERT_TAP_ENCODER_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "core/tap/result.h"
#include "core/util/text_buffer.h"
#include "desfired/v1/taps.pb.h"

namespace desfired {

class TapEncoder {
 public:
  // The CSV header line and the table header line, '\n' included.
  static absl::string_view CsvHeader();
  static std::string TableHeader();

  // Appends the JSON object of `r` with the fields of `view` (UNSPECIFIED: FULL) and '\n'.
  void Json(const tap::TapResult& r, TextBuffer* out,
            v1::TapResultView view = v1::TAP_RESULT_VIEW_FULL);
  // Appends the CSV record of `r` (RFC 4180 quoting of the error) and '\n'.
  void Csv(const tap::TapResult& r, TextBuffer* out);
  // Appends the table row of `r` and '\n'.
  void Row(const tap::TapResult& r, TextBuffer* out);

 private:
  // Appends `s` as the JSON string the protobuf printer writes for a string field.
  void JsonString(absl::string_view s, TextBuffer* out);
  // The record through ToProto and the protobuf printer, with the fields of the view.
  void ProtobufJson(const tap::TapResult& r, bool basic, TextBuffer* out);

  // Non-ASCII texts and their printed form (bounded: cleared when full).
  absl::flat_hash_map<std::string, std::string> escaped_;
  v1::TapResult proto_;  // for ProtobufJson and the escaping of non-ASCII text
  std::string json_;
};

}  // namespace desfired

#endif  // DESFIRED_PROTO_CONVERT_TAP_ENCODER_H_
