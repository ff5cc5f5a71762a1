#include "core/desfire/key_version.h"

#include <algorithm>

namespace desfired::desfire {
namespace {

constexpr size_t kDesBlock = 8;
constexpr uint8_t kParityBit = 0x01;

// Writes `version` into the parity bits of key[at .. at+8).
void SetParityBits(Bytes& key, size_t at, uint8_t version) {
  for (size_t i = 0; i < kDesBlock; ++i) {
    const uint8_t bit = (version >> (kDesBlock - 1 - i)) & kParityBit;
    key[at + i] = static_cast<uint8_t>((key[at + i] & ~kParityBit) | bit);
  }
}

}  // namespace

Bytes WithKeyVersion(crypto::KeyType type, ByteSpan key, uint8_t version) {
  Bytes out(key.begin(), key.end());
  if (type == crypto::KeyType::kAes128 || out.size() < kDesBlock) return out;
  const bool single_des =
      out.size() >= 2 * kDesBlock &&
      std::equal(out.begin(), out.begin() + kDesBlock, out.begin() + kDesBlock) &&
      type == crypto::KeyType::k2Tdea;
  SetParityBits(out, 0, version);
  if (single_des) SetParityBits(out, kDesBlock, version);
  return out;
}

}  // namespace desfired::desfire
