#include "core/crypto/random.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>

namespace desfired::crypto {

absl::Status RandomBytes(MutableByteSpan out) {
  // RAND_bytes takes an int length; draw very large requests in pieces.
  constexpr size_t kMaxChunk = size_t{1} << 30;
  uint8_t* p = out.data();
  size_t left = out.size();
  while (left > 0) {
    const size_t n = std::min(left, kMaxChunk);
    if (RAND_bytes(p, static_cast<int>(n)) != 1) {
      ERR_clear_error();
      return absl::InternalError("RAND_bytes failed");
    }
    p += n;
    left -= n;
  }
  return absl::OkStatus();
}

bool ConstantTimeEquals(ByteSpan a, ByteSpan b) {
  // Lengths are public (MAC lengths are fixed); only the contents are compared in constant time.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void SecureWipe(MutableByteSpan data) {
  if (!data.empty()) OPENSSL_cleanse(data.data(), data.size());
}

}  // namespace desfired::crypto
