// The bytes of the records of a ParseTaps / ParseTapStream request: each TapInput gives them as
// `raw` (bytes) or as `raw_hex` (text, for clients that write proto3 JSON by hand, where a
// `bytes` field is base64). docs/api.md, "TapInput".
//
//   if (absl::Status s = CheckTapInputs(request.records()); !s.ok()) return s;  // first
//   TapInputDecoder decoder;
//   for (const v1::TapInput& input : request.records()) {
//     pipeline.Process(index++, decoder.Bytes(input), ...);
//   }
//
// CheckTapInputs runs over the whole batch before any record is parsed, so that a bad record
// encoding fails the call without a partial answer. A record that is well encoded but not a
// tap record (too short, too long up to kMaxTapRecordBytes, a bad type) is not an error here: it
// gets a REJECTED result from the parser, whichever field carried it.
//
// Thread-compatible: a TapInputDecoder is used by one thread at a time.
#ifndef DESFIRED_SERVER_RPC_TAP_INPUT_H_
#define DESFIRED_SERVER_RPC_TAP_INPUT_H_

#include <cstddef>

#include "absl/status/status.h"
#include "core/util/bytes.h"
#include "desfired/v1/taps.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "server/rpc/request_limits.h"

namespace desfired::server {

// OK, or INVALID_ARGUMENT (reason INVALID_ARGUMENT) with metadata "field" and the record's index
// in the message:
//   "records.raw"      more than kMaxTapRecordBytes bytes;
//   "records.raw_hex"  more than kMaxTapRecordHexChars characters, a character that is not a
//                      hex digit or a separator (space, tab, ':', '-' between pairs), an odd
//                      number of digits, or more than kMaxTapRecordBytes bytes;
//   "records"          both `raw` and `raw_hex` set.
absl::Status CheckTapInputs(const google::protobuf::RepeatedPtrField<v1::TapInput>& records);

// The record bytes of checked inputs, decoding `raw_hex` into a buffer it reuses (no allocation
// per record once the buffer has grown).
class TapInputDecoder {
 public:
  // The bytes of `input` (CheckTapInputs passed), valid until the next call.
  ByteSpan Bytes(const v1::TapInput& input);

 private:
  desfired::Bytes scratch_;
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_TAP_INPUT_H_
