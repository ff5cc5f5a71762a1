// The size arithmetic of TapService messages: how large one record's result can get in a
// response, how many records therefore fit in one response under the gRPC message limit, and
// how much memory a batch is charged while it is worked on (docs/server.md, "Limits and
// memory"). The server checks its flags against it at start-up and charges calls with it
// before anything is parsed.
//
//   const size_t per_record = WorstTapResultBytes(pipeline_config);
//   if (max_tap_batch > MaxTapBatchFor(max_message_bytes, per_record)) ... config error ...
//   budget.AddBytes(caller, TapWorkBytes(request_bytes, records, per_record));
//
// Thread-safe: pure functions.
#ifndef DESFIRED_SERVER_RPC_TAP_LIMITS_H_
#define DESFIRED_SERVER_RPC_TAP_LIMITS_H_

#include <cstddef>

#include "core/tap/pipeline.h"

namespace desfired::server {

// The most bytes one result adds to a response (with its tag and length): the larger of a
// decoded record with every field at its widest (64-character key name, the longest names of
// the configured tables, every warning) and a REJECTED one echoing kMaxTapRecordBytes raw
// bytes; plus, with a terminal registry or tariff table, the per-id counts of the summary
// one record can add.
size_t WorstTapResultBytes(const tap::TapPipelineConfig& config);

// The most bytes one encoded TapInput (one element of `records`) may have: a record given as
// `raw_hex` of kMaxTapRecordHexChars characters (request_limits.h) with any backend_time takes
// at most 219, a full 32-byte `raw` record at most 53. A longer one is refused with the message
// (INVALID_ARGUMENT naming "records[i]") before anything is parsed; TapInputDecoder
// (tap_input.h) then bounds a record to kMaxTapRecordBytes, so that a result echoes at most
// that many raw bytes (as raw_hex).
inline constexpr size_t kMaxTapInputBytes = 256;

// Bytes of a response besides its results: the summary (without per-id lists),
// records_processed, tags and lengths.
inline constexpr size_t kTapResponseOverheadBytes = 1024;

// Memory a record takes while its batch is worked on, besides the request and response bytes:
// the parsed TapInput and the TapResult with its strings, on the call's arena (measured:
// tap_limits_test checks a worst-case batch stays within it).
inline constexpr size_t kTapWorkBytesPerRecord = 1024;

// The most records a response may carry and still fit `max_message_bytes`.
size_t MaxTapBatchFor(size_t max_message_bytes, size_t worst_result_bytes);

// What a batch of `records` records in `request_bytes` is charged against the in-flight byte
// limits: the request, the records' working memory and the largest response they can make.
size_t TapWorkBytes(size_t request_bytes, size_t records, size_t worst_result_bytes);

// What a VerifySun batch (or VerifySunStream chunk) of `messages` messages, `request_bytes`
// bytes encoded, is charged against the same limits: the request as decoded, the verifier's
// copy of its text and the results (a result is never larger than its message: decrypted file
// data is half its hex), each at most the request's size, and kTapWorkBytesPerRecord for each
// message's strings and results on the heap.
size_t SunWorkBytes(size_t request_bytes, size_t messages);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_TAP_LIMITS_H_
