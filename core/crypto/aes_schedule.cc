#include "core/crypto/aes_schedule.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define DESFIRED_AES_NI 1
#define DESFIRED_AES_TARGET __attribute__((target("aes,sse2")))
#endif

namespace desfired::crypto {
namespace {

constexpr size_t kBlock = 16;

// Without AES-NI: an OpenSSL AES-128-ECB context per thread, keyed for each call.
struct CtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};

void OpenSslBlock(const uint8_t* key, const uint8_t* in, uint8_t* out, bool encrypt) {
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  // A failure here means a broken libcrypto; the output is then left as garbage-free zeros.
  if (ctx == nullptr ||
      EVP_CipherInit_ex(ctx.get(), EVP_aes_128_ecb(), nullptr, key, nullptr, encrypt) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 ||
      EVP_CipherUpdate(ctx.get(), out, &len, in, static_cast<int>(kBlock)) != 1) {
    std::memset(out, 0, kBlock);
  }
}

#ifdef DESFIRED_AES_NI
bool HasAesNi() {
  static const bool has = __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse2");
  return has;
}

DESFIRED_AES_TARGET inline __m128i ExpandStep(__m128i k, __m128i assist) {
  assist = _mm_shuffle_epi32(assist, 0xFF);
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  return _mm_xor_si128(k, assist);
}

// The ten round constants as immediates (aeskeygenassist takes a constant).
#define DESFIRED_AES_ROUNDS(STEP) \
  STEP(1, 0x01)                   \
  STEP(2, 0x02)                   \
  STEP(3, 0x04)                   \
  STEP(4, 0x08)                   \
  STEP(5, 0x10)                   \
  STEP(6, 0x20)                   \
  STEP(7, 0x40)                   \
  STEP(8, 0x80)                   \
  STEP(9, 0x1B)                   \
  STEP(10, 0x36)

DESFIRED_AES_TARGET void ExpandNi(const uint8_t* key, uint8_t (*rk)[16]) {
  __m128i k = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
  _mm_store_si128(reinterpret_cast<__m128i*>(rk[0]), k);
#define DESFIRED_STEP(i, rcon)                           \
  k = ExpandStep(k, _mm_aeskeygenassist_si128(k, rcon)); \
  _mm_store_si128(reinterpret_cast<__m128i*>(rk[i]), k);
  DESFIRED_AES_ROUNDS(DESFIRED_STEP)
#undef DESFIRED_STEP
}

DESFIRED_AES_TARGET void EncryptNi(const uint8_t (*rk)[16], const uint8_t* in, uint8_t* out) {
  __m128i b = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in)),
                            _mm_load_si128(reinterpret_cast<const __m128i*>(rk[0])));
  for (int i = 1; i < 10; ++i) {
    b = _mm_aesenc_si128(b, _mm_load_si128(reinterpret_cast<const __m128i*>(rk[i])));
  }
  b = _mm_aesenclast_si128(b, _mm_load_si128(reinterpret_cast<const __m128i*>(rk[10])));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), b);
}

// Four blocks under one schedule, their rounds side by side.
DESFIRED_AES_TARGET void Encrypt4Ni(const uint8_t (*rk)[16], const uint8_t* in, uint8_t* out) {
  __m128i b[4];
  const __m128i k0 = _mm_load_si128(reinterpret_cast<const __m128i*>(rk[0]));
  for (int l = 0; l < 4; ++l) {
    b[l] = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 16 * l)), k0);
  }
  for (int i = 1; i < 10; ++i) {
    const __m128i k = _mm_load_si128(reinterpret_cast<const __m128i*>(rk[i]));
    for (int l = 0; l < 4; ++l) b[l] = _mm_aesenc_si128(b[l], k);
  }
  const __m128i last = _mm_load_si128(reinterpret_cast<const __m128i*>(rk[10]));
  for (int l = 0; l < 4; ++l) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * l), _mm_aesenclast_si128(b[l], last));
  }
}

DESFIRED_AES_TARGET void DecryptNi(const uint8_t (*rk)[16], const uint8_t* in, uint8_t* out) {
  __m128i b = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in)),
                            _mm_load_si128(reinterpret_cast<const __m128i*>(rk[10])));
  for (int i = 9; i > 0; --i) {
    b = _mm_aesdec_si128(b,
                         _mm_aesimc_si128(_mm_load_si128(reinterpret_cast<const __m128i*>(rk[i]))));
  }
  b = _mm_aesdeclast_si128(b, _mm_load_si128(reinterpret_cast<const __m128i*>(rk[0])));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), b);
  b = _mm_setzero_si128();
}

// `Lanes` two-block chains under one schedule, side by side: E(E(a) ^ s). The XOR of the
// second block rides on the first encryption's last round key (aesenclast XORs its key).
template <int Lanes>
DESFIRED_AES_TARGET void Chains2Ni(const uint8_t (*rk)[16], const uint8_t* const* firsts,
                                   const uint8_t* seconds, uint8_t* out) {
  __m128i k[11];
  for (int i = 0; i < 11; ++i) k[i] = _mm_load_si128(reinterpret_cast<const __m128i*>(rk[i]));
  const __m128i bridge = _mm_xor_si128(k[10], k[0]);  // the last round key, then the next whitening
  __m128i b[Lanes];
  for (int l = 0; l < Lanes; ++l) {
    b[l] = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(firsts[l])), k[0]);
  }
  for (int i = 1; i < 10; ++i) {
    for (int l = 0; l < Lanes; ++l) b[l] = _mm_aesenc_si128(b[l], k[i]);
  }
  for (int l = 0; l < Lanes; ++l) {
    const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(seconds + 16 * l));
    b[l] = _mm_aesenclast_si128(b[l], _mm_xor_si128(bridge, s));
  }
  for (int i = 1; i < 10; ++i) {
    for (int l = 0; l < Lanes; ++l) b[l] = _mm_aesenc_si128(b[l], k[i]);
  }
  for (int l = 0; l < Lanes; ++l) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * l), _mm_aesenclast_si128(b[l], k[10]));
  }
}

#define DESFIRED_VAES_TARGET __attribute__((target("aes,vaes,avx512f")))

// VAES from CPUID leaf 7 (ECX bit 9): clang 14's __builtin_cpu_supports does not know "vaes".
// "avx512f" also tells that the OS saves the 512-bit registers.
bool HasVaes512() {
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    const bool vaes = __get_cpuid_count(7, 0, &a, &b, &c, &d) != 0 && ((c >> 9) & 1u) != 0;
    return vaes && __builtin_cpu_supports("avx512f");
  }();
  return has;
}

// Sixteen two-block chains as Chains2Ni's, four blocks to a 512-bit register (VAES).
DESFIRED_VAES_TARGET void Chains2Vaes16(const uint8_t (*rk)[16], const uint8_t* const* firsts,
                                        const uint8_t* seconds, uint8_t* out) {
  __m512i k[11];
  for (int i = 0; i < 11; ++i) {
    k[i] = _mm512_maskz_broadcast_i32x4(  // maskz: GCC 12 warns of the unmasked form
        0xFFFF, _mm_load_si128(reinterpret_cast<const __m128i*>(rk[i])));
  }
  const __m512i bridge = _mm512_xor_si512(k[10], k[0]);
  __m512i b[4];
  for (int g = 0; g < 4; ++g) {
    const uint8_t* const* f = firsts + 4 * g;
    __m512i x = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(f[0])));
    x = _mm512_inserti32x4(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(f[1])), 1);
    x = _mm512_inserti32x4(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(f[2])), 2);
    x = _mm512_inserti32x4(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(f[3])), 3);
    b[g] = _mm512_xor_si512(x, k[0]);
  }
  for (int i = 1; i < 10; ++i) {
    for (int g = 0; g < 4; ++g) b[g] = _mm512_aesenc_epi128(b[g], k[i]);
  }
  for (int g = 0; g < 4; ++g) {
    const __m512i s = _mm512_loadu_si512(seconds + 64 * g);
    b[g] = _mm512_aesenclast_epi128(b[g], _mm512_xor_si512(bridge, s));
  }
  for (int i = 1; i < 10; ++i) {
    for (int g = 0; g < 4; ++g) b[g] = _mm512_aesenc_epi128(b[g], k[i]);
  }
  for (int g = 0; g < 4; ++g) {
    _mm512_storeu_si512(out + 64 * g, _mm512_aesenclast_epi128(b[g], k[10]));
  }
}

// `Lanes` encryptions with their keys expanded on the fly, round by round side by side.
template <int Lanes>
DESFIRED_AES_TARGET void EncryptLanesNi(const uint8_t* const* keys, const uint8_t* const* ins,
                                        uint8_t* out) {
  __m128i k[Lanes];
  __m128i b[Lanes];
  for (int l = 0; l < Lanes; ++l) {
    k[l] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(keys[l]));
    b[l] = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ins[l])), k[l]);
  }
#define DESFIRED_STEP(i, rcon)                                                         \
  for (int l = 0; l < Lanes; ++l) {                                                    \
    k[l] = ExpandStep(k[l], _mm_aeskeygenassist_si128(k[l], rcon));                    \
    b[l] = (i) < 10 ? _mm_aesenc_si128(b[l], k[l]) : _mm_aesenclast_si128(b[l], k[l]); \
  }
  DESFIRED_AES_ROUNDS(DESFIRED_STEP)
#undef DESFIRED_STEP
  for (int l = 0; l < Lanes; ++l) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + l * kBlock), b[l]);
    k[l] = _mm_setzero_si128();
  }
}
#else
bool HasAesNi() { return false; }
#endif

}  // namespace

Aes128Schedule::Aes128Schedule(const uint8_t* key) {
#ifdef DESFIRED_AES_NI
  if (HasAesNi()) {
    ExpandNi(key, rk_);
    return;
  }
#endif
  std::memcpy(rk_[0], key, kBlock);
}

Aes128Schedule::~Aes128Schedule() { OPENSSL_cleanse(rk_, sizeof(rk_)); }

Aes128Schedule::Aes128Schedule(Aes128Schedule&& other) noexcept {
  std::memcpy(rk_, other.rk_, sizeof(rk_));
  OPENSSL_cleanse(other.rk_, sizeof(other.rk_));
}

Aes128Schedule& Aes128Schedule::operator=(Aes128Schedule&& other) noexcept {
  if (this != &other) {
    std::memcpy(rk_, other.rk_, sizeof(rk_));
    OPENSSL_cleanse(other.rk_, sizeof(other.rk_));
  }
  return *this;
}

bool Aes128Schedule::Accelerated() { return HasAesNi(); }

void Aes128Schedule::Encrypt(const uint8_t* in, uint8_t* out) const {
#ifdef DESFIRED_AES_NI
  if (HasAesNi()) return EncryptNi(rk_, in, out);
#endif
  OpenSslBlock(rk_[0], in, out, true);
}

void Aes128Schedule::Decrypt(const uint8_t* in, uint8_t* out) const {
#ifdef DESFIRED_AES_NI
  if (HasAesNi()) return DecryptNi(rk_, in, out);
#endif
  OpenSslBlock(rk_[0], in, out, false);
}

void Aes128Schedule::EncryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const {
  size_t i = 0;
#ifdef DESFIRED_AES_NI
  if (HasAesNi()) {
    for (; i + 4 <= count; i += 4) Encrypt4Ni(rk_, in + i * kBlock, out + i * kBlock);
  }
#endif
  for (; i < count; ++i) Encrypt(in + i * kBlock, out + i * kBlock);
}

void Aes128Schedule::EncryptChains2(const uint8_t* const* firsts, const uint8_t* seconds,
                                    uint8_t* out, size_t count) const {
  size_t i = 0;
#ifdef DESFIRED_AES_NI
  if (HasAesNi()) {
    if (HasVaes512()) {
      for (; i + 16 <= count; i += 16) {
        Chains2Vaes16(rk_, firsts + i, seconds + i * kBlock, out + i * kBlock);
      }
    }
    for (; i + 8 <= count; i += 8) {
      Chains2Ni<8>(rk_, firsts + i, seconds + i * kBlock, out + i * kBlock);
    }
    for (; i < count; ++i) Chains2Ni<1>(rk_, firsts + i, seconds + i * kBlock, out + i * kBlock);
    return;
  }
#endif
  for (; i < count; ++i) {
    uint8_t x[kBlock];
    Encrypt(firsts[i], x);
    for (size_t j = 0; j < kBlock; ++j) x[j] ^= seconds[i * kBlock + j];
    Encrypt(x, out + i * kBlock);
    OPENSSL_cleanse(x, sizeof(x));
  }
}

void Aes128EncryptOnce(const uint8_t* key, const uint8_t* in, uint8_t* out) {
#ifdef DESFIRED_AES_NI
  if (HasAesNi()) return EncryptLanesNi<1>(&key, &in, out);
#endif
  uint8_t k[kBlock];
  std::memcpy(k, key, kBlock);  // `out` may alias `key`
  OpenSslBlock(k, in, out, true);
  OPENSSL_cleanse(k, sizeof(k));
}

void Aes128EncryptEach(const uint8_t* const* keys, const uint8_t* const* ins, uint8_t* out,
                       size_t n) {
  size_t i = 0;
#ifdef DESFIRED_AES_NI
  if (HasAesNi()) {
    for (; i + 4 <= n; i += 4) EncryptLanesNi<4>(keys + i, ins + i, out + i * kBlock);
  }
#endif
  for (; i < n; ++i) Aes128EncryptOnce(keys[i], ins[i], out + i * kBlock);
}

}  // namespace desfired::crypto
