// Secure random bytes (OpenSSL RAND_bytes), constant-time comparison and wiping.
//
// Thread-safe.
#ifndef DESFIRED_CORE_CRYPTO_RANDOM_H_
#define DESFIRED_CORE_CRYPTO_RANDOM_H_

#include <array>
#include <cstddef>
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

// A fixed-size secret (a derived key, a decrypted block) wiped when it goes out of scope: the
// stack counterpart of keys::SecretBytes. Each copy wipes itself.
template <size_t N>
struct Wiped {
  std::array<uint8_t, N> v = {};
  ~Wiped() { SecureWipe(MutableByteSpan(v.data(), v.size())); }
  uint8_t* data() { return v.data(); }
  const uint8_t* data() const { return v.data(); }
  ByteSpan span() const { return ByteSpan(v.data(), v.size()); }
};

}  // namespace desfired::crypto

#endif  // DESFIRED_CORE_CRYPTO_RANDOM_H_
