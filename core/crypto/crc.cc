#include "core/crypto/crc.h"

#include <array>

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
