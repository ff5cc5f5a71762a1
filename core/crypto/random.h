// Secure random bytes (OpenSSL RAND_bytes) and constant-time comparison.
//
// Thread-safe.
#ifndef DESFIRED_CORE_CRYPTO_RANDOM_H_
#define DESFIRED_CORE_CRYPTO_RANDOM_H_

#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "core/util/bytes.h"

namespace desfired::crypto {

// Fills `out` from the OpenSSL CSPRNG. INTERNAL if the generator fails.
absl::Status RandomBytes(MutableByteSpan out);

// True when a and b have the same length and content. The time taken depends on the length
// only, never on where the first difference is (CRYPTO_memcmp). Use for every MAC compare.
bool ConstantTimeEquals(ByteSpan a, ByteSpan b);

// ConstantTimeEquals for two 8-byte values (a tap record's MAC), inline for hot loops: one
// 64-bit XOR and a test of the whole word, no early exit and no data-dependent branch.
inline bool ConstantTimeEquals8(const uint8_t* a, const uint8_t* b) {
  uint64_t x, y;
  std::memcpy(&x, a, 8);
  std::memcpy(&y, b, 8);
  return (x ^ y) == 0;
}

// Overwrites `data` with zeros in a way the compiler cannot remove (OPENSSL_cleanse).
void SecureWipe(MutableByteSpan data);

}  // namespace desfired::crypto

#endif  // DESFIRED_CORE_CRYPTO_RANDOM_H_
