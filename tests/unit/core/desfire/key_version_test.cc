// Key versions in the parity bits of DES-family keys (key_version.h). The byte layout is the one
// libfreefare's mifare_desfire_key_set_version writes and a card's GetKeyVersion reads: bit 7 of
// the version in the least significant bit of byte 0 ... bit 0 in byte 7.
#include "core/desfire/key_version.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace desfired::desfire {
namespace {

using crypto::KeyType;
using testing::H;

struct Case {
  const char* name;
  KeyType type;
  const char* key;
  uint8_t version;
  const char* sent;
};

// Version 9 = 00001001: bytes 4 and 7 get their parity bit set, the others cleared.
constexpr Case kCases[] = {
    {"des", KeyType::kDes, "0011223344556677", 9, "0010223245546677"},
    {"2tdea", KeyType::k2Tdea, "00112233445566778899aabbccddeeff", 9,
     "00102232455466778899aabbccddeeff"},
    // Equal halves: a single DES key to the card; both halves carry the version, so it stays one.
    {"2tdea_equal_halves", KeyType::k2Tdea, "00112233445566770011223344556677", 9,
     "00102232455466770010223245546677"},
    {"3tdea", KeyType::k3Tdea, "00112233445566778899aabbccddeeff0123456789abcdef", 0x21,
     "00102332445466778899aabbccddeeff0123456789abcdef"},
    {"version_0_clears", KeyType::kDes, "0123456789abcdef", 0, "0022446688aaccee"},
    {"version_ff_sets", KeyType::k2Tdea, "00000000000000001111111111111111", 0xFF,
     "01010101010101011111111111111111"},
    {"aes_unchanged", KeyType::kAes128, "00112233445566778899aabbccddeeff", 9,
     "00112233445566778899aabbccddeeff"},
};

TEST(KeyVersionTest, WritesTheVersionIntoTheParityBits) {
  for (const Case& c : kCases) {
    EXPECT_EQ(HexEncode(WithKeyVersion(c.type, H(c.key), c.version)), c.sent) << c.name;
  }
}

TEST(KeyVersionTest, IsIdempotent) {
  for (const Case& c : kCases) {
    const Bytes once = WithKeyVersion(c.type, H(c.key), c.version);
    EXPECT_EQ(WithKeyVersion(c.type, once, c.version), once) << c.name;
  }
}

}  // namespace
}  // namespace desfired::desfire
