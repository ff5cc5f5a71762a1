// The bytes of a record of a ParseTaps / ParseTapStream request: each TapInput gives them as
// `raw` (bytes) or as `raw_hex` (text, for clients that write proto3 JSON by hand, where a
// `bytes` field is base64). docs/api.md, "ParseTaps".
//
//   TapInputDecoder decoder;
//   ReadTapRequest(&request, [&](size_t i, const WireTapInput& in) -> absl::Status {
//     DESFIRED_ASSIGN_OR_RETURN(ByteSpan record, decoder.Bytes(i, in.raw, in.raw_hex));
//     pipeline.Process(i, record, in.backend_time, &result);
//     ...
//   });
//
// A record whose encoding is bad fails the whole call (no answer is sent for its batch or
// chunk). A record that is well encoded but not a tap record (too short, too long up to
// kMaxTapRecordBytes, a bad type) is not an error here: it gets a REJECTED result from the
// parser, whichever field carried it.
//
// Thread-compatible: a TapInputDecoder is used by one thread at a time.
#ifndef DESFIRED_SERVER_RPC_TAP_INPUT_H_
#define DESFIRED_SERVER_RPC_TAP_INPUT_H_

#include <cstddef>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tap/pipeline.h"
#include "core/util/bytes.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/rpc/request_limits.h"

namespace desfired::server {

class TapInputDecoder {
 public:
  // The bytes of record `index`: `raw`, or `raw_hex` decoded into a buffer this decoder reuses
  // (no allocation per record once it has grown); valid until the next call. Else
  // INVALID_ARGUMENT (reason INVALID_ARGUMENT), metadata "field", the message naming the record
  // ("records[3].raw_hex: ..."):
  //   "records.raw"      more than kMaxTapRecordBytes bytes;
  //   "records.raw_hex"  more than kMaxTapRecordHexChars characters, a character that is not a
  //                      hex digit or a separator (space, tab, ':', '-' between pairs), an odd
  //                      number of digits, or more than kMaxTapRecordBytes bytes;
  //   "records"          both `raw` and `raw_hex` set.
  absl::StatusOr<ByteSpan> Bytes(size_t index, ByteSpan raw, absl::string_view raw_hex);

 private:
  desfired::Bytes scratch_;
};

// Reads the records of `request` (ScanTapRequest checked it) and runs each through `pipeline`
// as record first_index + i; `on_result` gets each result in input order (its `raw` is valid
// during the call only). The first record's encoding error (TapInputDecoder::Bytes) or
// ReadTapRequest's error stops it.
absl::Status ProcessTapRequest(tap::TapPipeline& pipeline, uint64_t first_index,
                               grpc::ByteBuffer* request,
                               absl::FunctionRef<void(const tap::TapResult&)> on_result);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_TAP_INPUT_H_
