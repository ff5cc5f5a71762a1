// The protobuf wire form of tap results, written straight from core results (core/tap/
// result.h) into a byte buffer: what TapService answers, without a desfired.v1.TapResult
// message per record and without serializing one. The bytes are those protobuf's serializer
// writes for ToProto(result) (proto/convert/tap_convert.h) with the fields of the view
// (TAP_RESULT_VIEW_BASIC: no raw_hex, record_id, dedup_key) — tests/unit/proto/
// tap_wire_test.cc and the tap_encoder_fuzz target compare them.
//
//   TextBuffer buf;
//   for (...) AppendTapResultField(result, v1::TAP_RESULT_VIEW_FULL, 1, &buf);  // `results`
//   AppendMessageField(summary, 2, &buf);                                     // `summary`
//   // buf holds a ParseTapsResponse
//
// Thread-safe: pure functions.
#ifndef DESFIRED_PROTO_CONVERT_TAP_WIRE_H_
#define DESFIRED_PROTO_CONVERT_TAP_WIRE_H_

#include <cstdint>

#include "core/tap/result.h"
#include "core/util/text_buffer.h"
#include "desfired/v1/taps.pb.h"
#include "google/protobuf/message_lite.h"

namespace desfired {

// Appends `r`, as the TapResult ToProto makes of it with the fields of `view`, as field
// `field_number` (1..15) of an enclosing message: tag, length and the message.
void AppendTapResultField(const tap::TapResult& r, v1::TapResultView view, int field_number,
                          TextBuffer* out);

// Appends `message` serialized as field `field_number` (1..15) of an enclosing message.
void AppendMessageField(const google::protobuf::MessageLite& message, int field_number,
                        TextBuffer* out);

// Appends the varint field `field_number` (1..15) with `value`, unless it is 0 (proto3 writes
// no default).
void AppendVarintField(uint64_t value, int field_number, TextBuffer* out);

}  // namespace desfired

#endif  // DESFIRED_PROTO_CONVERT_TAP_WIRE_H_
