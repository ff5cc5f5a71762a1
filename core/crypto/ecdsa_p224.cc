#include "core/crypto/ecdsa_p224.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <utility>

#include "core/util/free_with.h"

namespace desfired::crypto {
namespace {

constexpr char kCurve[] = "secp224r1";

using Bn = std::unique_ptr<BIGNUM, FreeWith<BN_clear_free>>;
using Pkey = std::unique_ptr<EVP_PKEY, FreeWith<EVP_PKEY_free>>;
using Sig = std::unique_ptr<ECDSA_SIG, FreeWith<ECDSA_SIG_free>>;
using Ctx = std::unique_ptr<EVP_PKEY_CTX, FreeWith<EVP_PKEY_CTX_free>>;
using Group = std::unique_ptr<EC_GROUP, FreeWith<EC_GROUP_free>>;
using Point = std::unique_ptr<EC_POINT, FreeWith<EC_POINT_free>>;
using BnCtx = std::unique_ptr<BN_CTX, FreeWith<BN_CTX_free>>;

// The curve, built once and shared read-only (EC_GROUP is safe to read from several threads).
const EC_GROUP* P224Group() {
  static const EC_GROUP* const group = EC_GROUP_new_by_curve_name(NID_secp224r1);
  return group;
}

// An EC key on P-224 from `public_point` and/or `private_key` (either may be empty).
Pkey KeyFromData(ByteSpan public_point, const BIGNUM* private_key) {
  std::unique_ptr<OSSL_PARAM_BLD, FreeWith<OSSL_PARAM_BLD_free>> bld(OSSL_PARAM_BLD_new());
  if (!bld) return nullptr;
  if (OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, kCurve, 0) != 1) {
    return nullptr;
  }
  if (!public_point.empty() &&
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, public_point.data(),
                                       public_point.size()) != 1) {
    return nullptr;
  }
  if (private_key != nullptr &&
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, private_key) != 1) {
    return nullptr;
  }
  std::unique_ptr<OSSL_PARAM, FreeWith<OSSL_PARAM_free>> params(OSSL_PARAM_BLD_to_param(bld.get()));
  Ctx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* key = nullptr;
  const int selection = private_key != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
  if (EVP_PKEY_fromdata(ctx.get(), &key, selection, params.get()) != 1) return nullptr;
  return Pkey(key);
}

// The private scalar of `private_key`, checked against the group order.
absl::StatusOr<Bn> Scalar(ByteSpan private_key) {
  if (private_key.size() != kP224FieldBytes) {
    return absl::InvalidArgumentError("a P-224 private key has 28 bytes");
  }
  Bn d(BN_bin2bn(private_key.data(), static_cast<int>(private_key.size()), nullptr));
  Group group(EC_GROUP_new_by_curve_name(NID_secp224r1));
  if (!d || !group) return absl::InternalError("OpenSSL: cannot allocate");
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), EC_GROUP_get0_order(group.get())) >= 0) {
    return absl::InvalidArgumentError("the P-224 private key is not in 1 .. order-1");
  }
  return d;
}

// A copy of P-224 whose generator is `q`, with OpenSSL's precomputed multiples of it: a
// multiplication of `q` then costs what one of the base point does (a comb over the table
// instead of a window over fresh multiples). nullptr when OpenSSL fails.
Group TableFor(const EC_GROUP* group, const EC_POINT* q) {
  Group table(EC_GROUP_dup(group));
  BnCtx ctx(BN_CTX_new());
  if (!table || !ctx ||
      EC_GROUP_set_generator(table.get(), q, EC_GROUP_get0_order(group),
                             EC_GROUP_get0_cofactor(group)) != 1) {
    return nullptr;
  }
  // Deprecated in OpenSSL 3 without a replacement (see the header); still in every 3.x.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const int precomputed = EC_GROUP_precompute_mult(table.get(), ctx.get());
#pragma GCC diagnostic pop
  return precomputed == 1 ? std::move(table) : nullptr;
}

}  // namespace

void P224PublicKey::Free::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
void P224PublicKey::Free::operator()(EC_GROUP* group) const { EC_GROUP_free(group); }

absl::StatusOr<P224PublicKey> P224PublicKey::FromUncompressed(ByteSpan point) {
  if (point.size() != kP224UncompressedBytes || point[0] != 0x04) {
    return absl::InvalidArgumentError(
        "a P-224 public key is 57 bytes: 04 followed by x and y (28 bytes each)");
  }
  Pkey key = KeyFromData(point, nullptr);
  if (!key) return absl::InvalidArgumentError("the P-224 public key is not a point of the curve");
  Ctx check(EVP_PKEY_CTX_new(key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return absl::InvalidArgumentError("the P-224 public key is not a point of the curve");
  }
  const EC_GROUP* group = P224Group();
  Point q(group != nullptr ? EC_POINT_new(group) : nullptr);
  if (!q || EC_POINT_oct2point(group, q.get(), point.data(), point.size(), nullptr) != 1) {
    return absl::InvalidArgumentError("the P-224 public key is not a point of the curve");
  }
  Group table = TableFor(group, q.get());
  if (!table) return absl::InternalError("OpenSSL: cannot precompute the P-224 public key");
  return P224PublicKey(std::shared_ptr<EVP_PKEY>(key.release(), Free()),
                       std::shared_ptr<EC_GROUP>(table.release(), Free()),
                       Bytes(point.begin(), point.end()));
}

bool P224PublicKey::Verify(ByteSpan digest, ByteSpan signature) const {
  if (signature.size() != kP224SignatureBytes || digest.size() > kP224FieldBytes) return false;
  Sig sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(signature.data(), kP224FieldBytes, nullptr);
  BIGNUM* s = BN_bin2bn(signature.data() + kP224FieldBytes, kP224FieldBytes, nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  unsigned char der[80];  // SEQUENCE of two INTEGERs of at most 29 bytes
  unsigned char* p = der;
  const int der_len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (der_len <= 0 || der_len > static_cast<int>(sizeof(der))) return false;
  if (i2d_ECDSA_SIG(sig.get(), &p) != der_len) return false;
  Ctx ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) return false;
  return EVP_PKEY_verify(ctx.get(), der, static_cast<size_t>(der_len), digest.data(),
                         digest.size()) == 1;
}

int P224VerifyAny(absl::Span<const P224PublicKey* const> keys, ByteSpan digest,
                  ByteSpan signature) {
  if (keys.empty() || signature.size() != kP224SignatureBytes || digest.size() > kP224FieldBytes) {
    return -1;
  }
  const EC_GROUP* group = P224Group();
  thread_local BnCtx ctx(BN_CTX_new());  // scratch numbers, reused by the thread's next call
  if (group == nullptr || !ctx) return -1;
  const BIGNUM* n = EC_GROUP_get0_order(group);
  Bn r(BN_bin2bn(signature.data(), kP224FieldBytes, nullptr));
  Bn s(BN_bin2bn(signature.data() + kP224FieldBytes, kP224FieldBytes, nullptr));
  Bn e(BN_bin2bn(digest.data(), static_cast<int>(digest.size()), nullptr));
  Bn w(BN_new()), u1(BN_new()), u2(BN_new()), x(BN_new());
  if (!r || !s || !e || !w || !u1 || !u2 || !x) return -1;
  // SEC 1 §4.1.4: r and s in 1..n-1 (the digest has the order's 224 bits: no truncation).
  if (BN_is_zero(r.get()) || BN_is_zero(s.get()) || BN_cmp(r.get(), n) >= 0 ||
      BN_cmp(s.get(), n) >= 0) {
    return -1;
  }
  if (BN_mod_inverse(w.get(), s.get(), n, ctx.get()) == nullptr ||
      BN_mod_mul(u1.get(), e.get(), w.get(), n, ctx.get()) != 1 ||
      BN_mod_mul(u2.get(), r.get(), w.get(), n, ctx.get()) != 1) {
    return -1;
  }
  Point a(EC_POINT_new(group)), p(EC_POINT_new(group));
  if (!a || !p || EC_POINT_mul(group, a.get(), u1.get(), nullptr, nullptr, ctx.get()) != 1) {
    return -1;
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    // R = u1·G + u2·Q (u2·Q as the generator multiple of the key's table: a point of the same
    // curve); valid when R is not the point at infinity and x(R) mod n == r.
    if (EC_POINT_mul(keys[i]->table_.get(), p.get(), u2.get(), nullptr, nullptr, ctx.get()) != 1 ||
        EC_POINT_add(group, p.get(), p.get(), a.get(), ctx.get()) != 1 ||
        EC_POINT_is_at_infinity(group, p.get()) == 1 ||
        EC_POINT_get_affine_coordinates(group, p.get(), x.get(), nullptr, ctx.get()) != 1 ||
        BN_nnmod(x.get(), x.get(), n, ctx.get()) != 1) {
      continue;
    }
    if (BN_cmp(x.get(), r.get()) == 0) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<P224KeyPair> GenerateP224KeyPair() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", kCurve));
  if (!key) return absl::InternalError("OpenSSL: P-224 key generation failed");
  BIGNUM* d_raw = nullptr;
  if (EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_PRIV_KEY, &d_raw) != 1) {
    return absl::InternalError("OpenSSL: cannot read the private key");
  }
  Bn d(d_raw);
  P224KeyPair pair;
  pair.private_key.resize(kP224FieldBytes);
  if (BN_bn2binpad(d.get(), pair.private_key.data(), kP224FieldBytes) != kP224FieldBytes) {
    return absl::InternalError("OpenSSL: cannot write the private key");
  }
  auto pub = P224PublicFromPrivate(pair.private_key);
  if (!pub.ok()) return pub.status();
  pair.public_key = *std::move(pub);
  return pair;
}

absl::StatusOr<Bytes> P224PublicFromPrivate(ByteSpan private_key) {
  absl::StatusOr<Bn> d = Scalar(private_key);
  if (!d.ok()) return d.status();
  Group group(EC_GROUP_new_by_curve_name(NID_secp224r1));
  std::unique_ptr<EC_POINT, FreeWith<EC_POINT_free>> q(group ? EC_POINT_new(group.get()) : nullptr);
  if (!q || EC_POINT_mul(group.get(), q.get(), d->get(), nullptr, nullptr, nullptr) != 1) {
    return absl::InternalError("OpenSSL: cannot compute the public key");
  }
  Bytes out(kP224UncompressedBytes);
  if (EC_POINT_point2oct(group.get(), q.get(), POINT_CONVERSION_UNCOMPRESSED, out.data(),
                         out.size(), nullptr) != out.size()) {
    return absl::InternalError("OpenSSL: cannot encode the public key");
  }
  return out;
}

absl::StatusOr<Bytes> P224Sign(ByteSpan private_key, ByteSpan digest) {
  if (digest.size() > kP224FieldBytes) {
    return absl::InvalidArgumentError("a P-224 digest has at most 28 bytes");
  }
  absl::StatusOr<Bn> d = Scalar(private_key);
  if (!d.ok()) return d.status();
  Pkey key = KeyFromData({}, d->get());
  if (!key) return absl::InternalError("OpenSSL: cannot load the P-224 private key");
  Ctx ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
  unsigned char der[80];
  size_t der_len = sizeof(der);
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
      EVP_PKEY_sign(ctx.get(), der, &der_len, digest.data(), digest.size()) != 1) {
    return absl::InternalError("OpenSSL: P-224 signing failed");
  }
  const unsigned char* p = der;
  Sig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) return absl::InternalError("OpenSSL: cannot decode the signature");
  Bytes out(kP224SignatureBytes);
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out.data(), kP224FieldBytes) != kP224FieldBytes ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out.data() + kP224FieldBytes, kP224FieldBytes) !=
          kP224FieldBytes) {
    return absl::InternalError("OpenSSL: cannot encode the signature");
  }
  return out;
}

}  // namespace desfired::crypto
