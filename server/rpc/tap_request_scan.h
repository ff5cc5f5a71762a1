// ScanTapRequest: the records of an encoded ParseTapsRequest or ParseTapStreamRequest
// (field 1, `records`; both messages share the layout) counted and size-checked in their
// wire form, before the message is parsed — so that a request of millions of tiny records is
// refused for what it would become, not after it has become it.
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

#include "absl/status/statusor.h"
#include "grpcpp/support/byte_buffer.h"

namespace desfired::server {

// The number of records. INVALID_ARGUMENT (reason INVALID_ARGUMENT):
//   field "records"     more than `max_records` records;
//   field "records[i]"  record i is longer than kMaxTapInputBytes (tap_limits.h) encoded;
//   no field            the bytes are not a valid encoding of the message.
absl::StatusOr<size_t> ScanTapRequest(grpc::ByteBuffer* buffer, size_t max_records);

// The error of bytes that are not a valid encoding of a tap request (ScanTapRequest's, and the
// full parse's), and the test that tells it from the other errors.
absl::Status MalformedTapRequestError();
bool IsMalformedTapRequest(const absl::Status& status);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_TAP_REQUEST_SCAN_H_
