// ScanTapRequest: the records of an encoded ParseTapsRequest or ParseTapStreamRequest
// (field 1, `records`; both messages share the layout) counted and size-checked in their
// wire form, before they are read — so that a request of millions of tiny records is refused
// for what it would become, not after it has become it. ReadTapRequest then reads them from
// the same bytes, without a message per record.
//
//   absl::StatusOr<size_t> records = ScanTapRequest(&buffer, max_batch);
//   if (!records.ok()) return records.status();   // nothing allocated per record
//
// The scan reads the tags and lengths only (no per-record allocation); it stops at the first
// problem.
//
// Thread-compatible (the buffer is read, not changed).
#ifndef DESFIRED_SERVER_RPC_TAP_REQUEST_SCAN_H_
#define DESFIRED_SERVER_RPC_TAP_REQUEST_SCAN_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/util/bytes.h"
#include "grpcpp/support/byte_buffer.h"

namespace desfired::server {

// The number of records. INVALID_ARGUMENT (reason INVALID_ARGUMENT):
//   field "records"     more than `max_records` records;
//   field "records[i]"  record i is longer than kMaxTapInputBytes (tap_limits.h) encoded;
//   no field            the bytes are not a valid encoding of the message.
// *view (when not null): the request's `view` (field 2; 0 when absent).
absl::StatusOr<size_t> ScanTapRequest(grpc::ByteBuffer* buffer, size_t max_records,
                                      int* view = nullptr);

// The records of an encoded ParseTapsRequest or ParseTapStreamRequest (scanned first), read
// from their wire form without a message per record: on_record(index, input) for each, in
// order, the input's bytes borrowed for the call; the first error on_record returns ends the
// reading and is returned. Reads what protobuf's parser reads (the
// last of a repeated scalar wins; unknown fields are skipped); MalformedTapRequestError()
// where it would fail.
struct WireTapInput {
  ByteSpan raw;                         // TapInput.raw
  absl::string_view raw_hex;            // TapInput.raw_hex, as sent (tap_input.h decodes it)
  std::optional<int64_t> backend_time;  // TapInput.backend_time.seconds, when set
};
absl::Status ReadTapRequest(
    grpc::ByteBuffer* buffer,
    absl::FunctionRef<absl::Status(size_t index, const WireTapInput& input)> on_record);

// The error of bytes that are not a valid encoding of a tap request (ScanTapRequest's, and the
// full parse's), and the test that tells it from the other errors.
absl::Status MalformedTapRequestError();
bool IsMalformedTapRequest(const absl::Status& status);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_TAP_REQUEST_SCAN_H_
