#include "core/crypto/crc.h"

#include <array>

#if defined(__x86_64__)
#include <immintrin.h>
#define DESFIRED_CRC_CLMUL 1
#define DESFIRED_CLMUL_TARGET __attribute__((target("pclmul,ssse3")))
#endif

namespace desfired::crypto {
namespace {

// CRC-8/SMBUS: MSB-first, polynomial 0x07.
constexpr std::array<uint8_t, 256> MakeCrc8Table() {
  std::array<uint8_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    unsigned crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x80) ? (crc << 1) ^ 0x07 : crc << 1;
    table[i] = static_cast<uint8_t>(crc);
  }
  return table;
}

// The table of an LSB-first (reflected) CRC whose reflected polynomial is `poly`.
template <typename T>
constexpr std::array<T, 256> MakeReflectedTable(T poly) {
  std::array<T, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ poly : crc >> 1;
    table[i] = static_cast<T>(crc);
  }
  return table;
}

constexpr std::array<uint8_t, 256> kCrc8Table = MakeCrc8Table();

// Slicing tables for CRC-8: kCrc8Slices[k][x] is the CRC contribution of byte x followed by k
// zero bytes (the table applied k + 1 times). CRC-8 with init 0 is linear, so up to 32 bytes
// (a whole tap record) fold into one state with independent look-ups instead of a chain of
// dependent ones.
constexpr size_t kCrc8SliceCount = 32;
using Crc8Slices = std::array<std::array<uint8_t, 256>, kCrc8SliceCount>;
constexpr Crc8Slices MakeCrc8Slices() {
  Crc8Slices slices{};
  slices[0] = MakeCrc8Table();
  for (size_t k = 1; k < kCrc8SliceCount; ++k) {
    for (unsigned x = 0; x < 256; ++x) slices[k][x] = slices[0][slices[k - 1][x]];
  }
  return slices;
}
constexpr Crc8Slices kCrc8Slices = MakeCrc8Slices();
constexpr std::array<uint16_t, 256> kCrc16ATable =
    MakeReflectedTable<uint16_t>(0x8408);  // CRC-A: polynomial 0x1021 reflected
constexpr std::array<uint32_t, 256> kCrc32Table =
    MakeReflectedTable<uint32_t>(0xEDB88320u);  // CRC-32: 0x04C11DB7 reflected

static_assert(kCrc8Table[1] == 0x07);
static_assert(kCrc16ATable[128] == 0x8408);
static_assert(kCrc32Table[128] == 0xEDB88320u);

}  // namespace

uint8_t Crc8(ByteSpan data, uint8_t init) {
  uint8_t crc = init;
  const uint8_t* p = data.data();
  size_t n = data.size();
  // Each step folds up to 32 bytes, the running CRC XORed into the first.
  while (n > 0) {
    const size_t k = n < kCrc8SliceCount ? n : kCrc8SliceCount;
    uint8_t next = kCrc8Slices[k - 1][crc ^ p[0]];
    for (size_t i = 1; i < k; ++i) next ^= kCrc8Slices[k - 1 - i][p[i]];
    crc = next;
    p += k;
    n -= k;
  }
  return crc;
}

namespace {

// Crc8Many for messages of kLength <= kCrc8SliceCount bytes: byte i contributes
// kCrc8Slices[kLength - 1 - i][byte], all look-ups independent.
template <size_t kLength>
void Crc8ManyFixed(const uint8_t* const* data, size_t count, uint8_t* out) {
  for (size_t m = 0; m < count; ++m) {
    const uint8_t* p = data[m];
    uint8_t crc = 0;
    for (size_t i = 0; i < kLength; ++i) crc ^= kCrc8Slices[kLength - 1 - i][p[i]];
    out[m] = crc;
  }
}

#ifdef DESFIRED_CRC_CLMUL
// GF(2) polynomials as integers (bit i: the coefficient of x^i): x^k mod P and x^64 / P for
// P = x^8 + x^2 + x + 1 (0x107).
constexpr uint64_t kCrc8Poly = 0x107;
constexpr uint64_t XPowModP(int k) {
  uint64_t r = 1;
  for (int i = 0; i < k; ++i) r = (r << 1) & 0x100 ? (r << 1) ^ kCrc8Poly : r << 1;
  return r;
}
constexpr uint64_t X64DivP() {  // floor(x^64 / P), degree 56: long division bit by bit
  uint64_t rem = 0;
  uint64_t q = 0;
  for (int bit = 64; bit >= 0; --bit) {
    rem = rem << 1 | (bit == 64 ? 1 : 0);
    if (rem & 0x100) {
      rem ^= kCrc8Poly;
      q |= uint64_t{1} << bit;  // bit <= 56 here: eight more bits came in after x^64
    }
  }
  return q;
}
static_assert(X64DivP() == 0x107156a166329ddull);
static_assert(XPowModP(8) == 0x07);

// The CRC of 27-byte messages by carry-less multiplication. For the bytes m0..m26 the CRC is
// M(x)·x^8 mod P with M = sum of m_j·x^(8·(26 - j)) (the first byte highest), so
//   CRC = U1·x^160 + U2·x^96 + B mod P,
// U1, U2 the bytes 0..7 and 8..15 big-endian, B the bytes 16..26 big-endian times x^8 (up to
// 96 bits; its top 32 bits fold with x^64 mod P). Each product is at most 71 bits; its top
// bits fold once more, and Barrett's reduction (q = ((T >> 8)·floor(x^64 / P)) >> 56,
// CRC = T + q·P) gives the remainder of the 64-bit T. Six multiplications per message, no
// table and no chain between messages. Reads only the 27 bytes.
DESFIRED_CLMUL_TARGET void Crc8Many27Clmul(const uint8_t* const* data, size_t count, uint8_t* out) {
  const __m128i reverse = _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  // From the 16 bytes at message + 11: byte k (1..11) of B is message byte 27 - k.
  const __m128i tail =
      _mm_setr_epi8(-128, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, -128, -128, -128, -128);
  const __m128i k160_96 =
      _mm_set_epi64x(static_cast<int64_t>(XPowModP(96)), static_cast<int64_t>(XPowModP(160)));
  const __m128i k64 = _mm_set_epi64x(0, static_cast<int64_t>(XPowModP(64)));
  const __m128i mu_p =
      _mm_set_epi64x(static_cast<int64_t>(kCrc8Poly), static_cast<int64_t>(X64DivP()));
  for (size_t m = 0; m < count; ++m) {
    const uint8_t* p = data[m];
    const __m128i a =
        _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), reverse);
    const __m128i b =
        _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 11)), tail);
    __m128i s = _mm_xor_si128(_mm_clmulepi64_si128(a, k160_96, 0x01),   // U1·x^160
                              _mm_clmulepi64_si128(a, k160_96, 0x10));  // U2·x^96
    s = _mm_xor_si128(s, _mm_clmulepi64_si128(b, k64, 0x01));           // B's top·x^64
    s = _mm_xor_si128(s, _mm_move_epi64(b));
    const __m128i t = _mm_xor_si128(_mm_move_epi64(s), _mm_clmulepi64_si128(s, k64, 0x01));
    const __m128i q = _mm_srli_si128(_mm_clmulepi64_si128(_mm_srli_epi64(t, 8), mu_p, 0x00), 7);
    const __m128i r = _mm_xor_si128(t, _mm_clmulepi64_si128(q, mu_p, 0x10));
    out[m] = static_cast<uint8_t>(_mm_cvtsi128_si32(r));
  }
}

bool HasClmul() {
  static const bool has = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("ssse3");
  return has;
}
#endif

}  // namespace

void Crc8Many(const uint8_t* const* data, size_t length, size_t count, uint8_t* out) {
#ifdef DESFIRED_CRC_CLMUL
  if (length == 27 && HasClmul()) return Crc8Many27Clmul(data, count, out);
#endif
  if (length == 27) return Crc8ManyFixed<27>(data, count, out);  // the tap record's CRC
  for (size_t m = 0; m < count; ++m) out[m] = Crc8(ByteSpan(data[m], length));
}

uint16_t Crc16A(ByteSpan data, uint16_t init) {
  uint16_t crc = init;
  for (uint8_t b : data) crc = static_cast<uint16_t>((crc >> 8) ^ kCrc16ATable[(crc ^ b) & 0xff]);
  return crc;
}

uint32_t Crc32Desfire(ByteSpan data, uint32_t init) {
  // JAMCRC has no final XOR, so the register value is the result and can be fed back as init.
  uint32_t crc = init;
  for (uint8_t b : data) crc = (crc >> 8) ^ kCrc32Table[(crc ^ b) & 0xff];
  return crc;
}

}  // namespace desfired::crypto
