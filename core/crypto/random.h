// Secure random bytes (OpenSSL RAND_bytes) and constant-time comparison.
//
// Thread-safe.
#ifndef DESFIRED_CORE_CRYPTO_RANDOM_H_
#define DESFIRED_CORE_CRYPTO_RANDOM_H_

#include "absl/status/status.h"
#include "core/util/bytes.h"

namespace desfired::crypto {

// Fills `out` from the OpenSSL CSPRNG. INTERNAL if the generator fails.
absl::Status RandomBytes(MutableByteSpan out);

// True when a and b have the same length and content. The time taken depends on the length
// only, never on where the first difference is (CRYPTO_memcmp). Use for every MAC compare.
bool ConstantTimeEquals(ByteSpan a, ByteSpan b);

// Overwrites `data` with zeros in a way the compiler cannot remove (OPENSSL_cleanse).
void SecureWipe(MutableByteSpan data);

}  // namespace desfired::crypto

#endif  // DESFIRED_CORE_CRYPTO_RANDOM_H_
