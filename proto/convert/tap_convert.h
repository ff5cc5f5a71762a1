// Conversion between core tap results (core/tap/result.h) and desfired.v1 messages. The one
// place where the two meet; used by the server and by desfirectl.
//
// Thread-safe: pure functions.
#ifndef DESFIRED_PROTO_CONVERT_TAP_CONVERT_H_
#define DESFIRED_PROTO_CONVERT_TAP_CONVERT_H_

#include "core/tap/result.h"
#include "core/tap/summary.h"
#include "desfired/v1/taps.pb.h"

namespace desfired {

// Fills `out` (cleared first) from `in`.
void ToProto(const tap::TapResult& in, v1::TapResult* out);
void ToProto(const tap::TapSummary& in, v1::TapSummary* out);

}  // namespace desfired

#endif  // DESFIRED_PROTO_CONVERT_TAP_CONVERT_H_
