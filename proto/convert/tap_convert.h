// Conversion between core tap results (core/tap/result.h) and desfired.v1 messages. The one
// place where the two meet: the server answers with ToProto; desfirectl turns the server's
// answers back with FromProto and prints them as it prints its own parser's results.
//
// Thread-safe: pure functions.
#ifndef DESFIRED_PROTO_CONVERT_TAP_CONVERT_H_
#define DESFIRED_PROTO_CONVERT_TAP_CONVERT_H_

#include "absl/status/status.h"
#include "core/tap/result.h"
#include "core/tap/summary.h"
#include "core/util/bytes.h"
#include "desfired/v1/taps.pb.h"

namespace desfired {

// Fills `out` (cleared first) from `in`.
void ToProto(const tap::TapResult& in, v1::TapResult* out);
void ToProto(const tap::TapSummary& in, v1::TapSummary* out);

// Fills `out` (reset first) from `in`, the inverse of ToProto: ToProto(FromProto(p)) equals p
// for every p that ToProto wrote. record_id and dedup_key are not read (they follow from the
// fields), nor what ToProto leaves out of a REJECTED result.
//
// `out` borrows, as a parsed result does: its names point into `in` and its raw bytes into
// `*raw` (decoded from raw_hex, its capacity reused), and both must outlive `out` unchanged.
// A REJECTED result gets back its core reason when `error` is the core's text for its bytes
// (too short, too long, unknown record type); any other text is kept as the text of
// kUnreadableInput.
//
// INVALID_ARGUMENT, naming the result's index and the field, when `in` holds what no core
// result holds: a status, warning, record type or MAC algorithm the core does not know (a
// newer server's), hex that is not lower-case hex of the right length, a tap time outside
// 0..2^32-1 or a CRC8 above 255.
absl::Status FromProto(const v1::TapResult& in, Bytes* raw, tap::TapResult* out);
// Fills `out` (reset first) from `in`; INVALID_ARGUMENT for a warning the core does not know.
absl::Status FromProto(const v1::TapSummary& in, tap::TapSummary* out);

}  // namespace desfired

#endif  // DESFIRED_PROTO_CONVERT_TAP_CONVERT_H_
