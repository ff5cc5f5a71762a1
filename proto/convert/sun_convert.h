// SUN messages and results (core/tap/sun.h) <-> desfired.v1 (taps.proto: SunMessage,
// SunResult).
//
//   tap::SunInput in = SunInputFromProto(request.cipher(), request.messages(i));
//   SunResultToProto(verifier.Verify(in), i, response.add_results());
//
// Thread-safe: pure functions.
#ifndef DESFIRED_PROTO_CONVERT_SUN_CONVERT_H_
#define DESFIRED_PROTO_CONVERT_SUN_CONVERT_H_

#include <cstdint>

#include "core/tap/sun.h"
#include "desfired/v1/taps.pb.h"

namespace desfired {

// UNSPECIFIED reads as AES.
tap::SunCipher SunCipherFromProto(v1::SunCipher cipher);
tap::SunInput SunInputFromProto(v1::SunCipher cipher, const v1::SunMessage& in);
void SunResultToProto(const tap::SunResult& in, uint64_t index, v1::SunResult* out);

}  // namespace desfired

#endif  // DESFIRED_PROTO_CONVERT_SUN_CONVERT_H_
