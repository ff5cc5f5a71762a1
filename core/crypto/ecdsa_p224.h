// ECDSA on secp224r1 (NIST P-224) over a caller-supplied "digest", as NXP's originality
// signatures use it: the signed value is the card's UID taken as a big-endian integer, with no
// hash (callers left-pad it to 28 bytes, see core/desfire/originality.h). Signatures are the
// raw 56 bytes r(28) ‖ s(28).
//
//   DESFIRED_ASSIGN_OR_RETURN(P224PublicKey key, P224PublicKey::FromUncompressed(point));
//   bool ok = key.Verify(digest28, signature56);
//
//   // Signing (the emulator and tests only: a test key pair, never a manufacturer key):
//   DESFIRED_ASSIGN_OR_RETURN(P224KeyPair pair, GenerateP224KeyPair());
//   DESFIRED_ASSIGN_OR_RETURN(Bytes sig, P224Sign(pair.private_key, digest28));
//
// Built on OpenSSL 3 (EVP_PKEY, EC_POINT arithmetic; no deprecated EC_KEY calls). One
// deprecated call remains, EC_GROUP_precompute_mult, for which OpenSSL 3 has no replacement:
// each key keeps a copy of the curve with the key as its generator and OpenSSL's table of its
// multiples, so that P224VerifyAny multiplies the key's point as fast as the base point.
//
// Thread-safety: P224PublicKey is immutable after construction; Verify may be called from
// several threads at once. The free functions are thread-safe.
#ifndef DESFIRED_CORE_CRYPTO_ECDSA_P224_H_
#define DESFIRED_CORE_CRYPTO_ECDSA_P224_H_

#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/util/bytes.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct ec_group_st EC_GROUP;

namespace desfired::crypto {

inline constexpr size_t kP224FieldBytes = 28;
inline constexpr size_t kP224SignatureBytes = 2 * kP224FieldBytes;         // r ‖ s
inline constexpr size_t kP224UncompressedBytes = 1 + 2 * kP224FieldBytes;  // 04 ‖ x ‖ y

class P224PublicKey {
 public:
  // `point`: 04 ‖ x(28) ‖ y(28). INVALID_ARGUMENT for another length or a point that is not
  // on the curve.
  static absl::StatusOr<P224PublicKey> FromUncompressed(ByteSpan point);

  // True when `signature` (r ‖ s, 56 bytes) is a valid ECDSA signature of `digest` (at most
  // 28 bytes, taken as a big-endian integer) under this key. False for anything else (wrong
  // length, r or s zero or not below the group order, a forged value).
  bool Verify(ByteSpan digest, ByteSpan signature) const;

  // The 57 bytes the key was made from.
  const Bytes& uncompressed() const { return point_; }

 private:
  friend int P224VerifyAny(absl::Span<const P224PublicKey* const> keys, ByteSpan digest,
                           ByteSpan signature);
  struct Free {
    void operator()(EVP_PKEY* key) const;
    void operator()(EC_GROUP* group) const;
  };
  P224PublicKey(std::shared_ptr<EVP_PKEY> key, std::shared_ptr<EC_GROUP> table, Bytes point)
      : key_(std::move(key)), table_(std::move(table)), point_(std::move(point)) {}

  std::shared_ptr<EVP_PKEY> key_;
  // P-224 with this key's point as the generator and its precomputed multiples (read-only
  // after construction, as OpenSSL allows from several threads): P224VerifyAny's u2·Q.
  std::shared_ptr<EC_GROUP> table_;
  Bytes point_;
};

// The index in `keys` of the first key under which `signature` is valid for `digest` (as
// P224PublicKey::Verify decides it), or -1 when none is. The same answer as calling Verify key
// by key, cheaper: the part of the check that does not depend on the key (u1·G, with
// u1 = e·s⁻¹) is computed once, then each key costs one multiplication of its point from its
// precomputed table (u2·Q, u2 = r·s⁻¹; as cheap as u1·G) and the comparison
// x(u1·G + u2·Q) ≡ r (mod n). One key costs about 0.6 of an OpenSSL verify, each further
// key about a quarter of one (docs/benchmarks.md, EV3).
int P224VerifyAny(absl::Span<const P224PublicKey* const> keys, ByteSpan digest, ByteSpan signature);

struct P224KeyPair {
  Bytes private_key;  // 28 bytes, big-endian scalar; secret: wipe after use
  Bytes public_key;   // 04 ‖ x ‖ y
};

// A fresh key pair from the OpenSSL CSPRNG. INTERNAL when OpenSSL fails.
absl::StatusOr<P224KeyPair> GenerateP224KeyPair();

// The public key of the 28-byte private scalar `private_key`. INVALID_ARGUMENT for a wrong
// length or a scalar of zero or beyond the group order.
absl::StatusOr<Bytes> P224PublicFromPrivate(ByteSpan private_key);

// r ‖ s (56 bytes) of `digest` (at most 28 bytes) under `private_key` (28 bytes), with a
// random nonce. INVALID_ARGUMENT for bad lengths or scalar, INTERNAL when OpenSSL fails.
absl::StatusOr<Bytes> P224Sign(ByteSpan private_key, ByteSpan digest);

}  // namespace desfired::crypto

#endif  // DESFIRED_CORE_CRYPTO_ECDSA_P224_H_
