// Helpers for tap tests: build records with the project's own CRC and CMAC (both are tested
// against published vectors in crypto_test), plus fixed records computed independently.
#ifndef DESFIRED_TESTS_UNIT_CORE_TAP_TEST_RECORDS_H_
#define DESFIRED_TESTS_UNIT_CORE_TAP_TEST_RECORDS_H_

#include <cstdint>
#include <cstring>

#include "core/crypto/cmac.h"
#include "core/crypto/crc.h"
#include "core/tap/format.h"
#include "core/tap/mac_verifier.h"
#include "core/util/bytes.h"

namespace desfired::tap::testing {

inline constexpr char kStaticKeyHex[] = "2b7e151628aed2a6abf7158809cf4f3c";

struct RecordSpec {
  uint8_t type = 0x01;
  uint32_t timestamp = 1700000000;  // 2023-11-14
  uint32_t terminal = 0x001234;
  uint16_t fare = 7;
  uint8_t zone = 3;
  uint8_t uid[8] = {0x04, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x80};
};

// A 32-byte record with a correct CRC and an AES128_CMAC MAC under `key_hex`.
inline Bytes MakeRecord(const RecordSpec& s, const char* key_hex = kStaticKeyHex,
                        crypto::MacAlgorithm alg = crypto::MacAlgorithm::kAes128Cmac) {
  Bytes r(kRecordSize, kPaddingByte);
  r[kTypeOffset] = s.type;
  StoreLe32(s.timestamp, &r[kTimestampOffset]);
  StoreLe24(s.terminal, &r[kTerminalOffset]);
  StoreLe16(s.fare, &r[kFareOffset]);
  r[kZoneOffset] = s.zone;
  std::memcpy(&r[kUidOffset], s.uid, kUidLength);
  Bytes key = *HexDecode(key_hex);
  auto cmac = crypto::Cmac::Create(crypto::KeyType::kAes128, key);
  MacVerifier::ComputeTapMac(*cmac, alg, r.data(), &r[kMacOffset]);
  r[kCrcOffset] = crypto::Crc8(ByteSpan(r.data(), kCrcCoveredLength));
  return r;
}

inline void FixCrc(Bytes* r) {
  (*r)[kCrcOffset] = crypto::Crc8(ByteSpan(r->data(), kCrcCoveredLength));
}

// Records computed with python3-cryptography (an implementation independent of ours):
// type 01, time 1700000000, terminal 0x00abcd, fare 42, zone 9, UID 04782e21801d8000.
// AES128_CMAC_EV2 (odd bytes), key 000102030405060708090a0b0c0d0e0f.
inline constexpr char kEv2RecordHex[] =
    "0100f15365cdab002a000904782e21801d80005c2dfe0d05b3f140c8ffffffff";
inline constexpr char kEv2KeyHex[] = "000102030405060708090a0b0c0d0e0f";
// TDES_CMAC, 2TDEA key 0123456789abcdef 23456789abcdef01 (the NIST TDES-CMAC example key).
inline constexpr char kTdes2RecordHex[] =
    "0100f15365cdab002a000904782e21801d80001f651f422cef31a934ffffffff";
inline constexpr char kTdes2KeyHex[] = "0123456789abcdef23456789abcdef01";
// TDES_CMAC, 3TDEA key 0123456789abcdef 23456789abcdef01 456789abcdef0123.
inline constexpr char kTdes3RecordHex[] =
    "0100f15365cdab002a000904782e21801d8000a50605b05aae404b1cffffffff";
inline constexpr char kTdes3KeyHex[] = "0123456789abcdef23456789abcdef01456789abcdef0123";
// AES128_CMAC with the AN10922 key diversified from master 00112233445566778899aabbccddeeff
// with input UID(7) ‖ system id 3042f54e585020416275. That input is the AN10922 §2.2.1
// example (UID 04782E21801D80, AID 3042F5, "NXP Abu"), whose published diversified key is
// A8DD63A3B89D54B37CA802473FDA9175.
inline constexpr char kCardRecordHex[] =
    "0100f15365cdab002a000904782e21801d800095ee5ece66a9a2e0b7ffffffff";
inline constexpr char kCardMasterHex[] = "00112233445566778899aabbccddeeff";
inline constexpr char kCardSystemHex[] = "3042f54e585020416275";

}  // namespace desfired::tap::testing

#endif  // DESFIRED_TESTS_UNIT_CORE_TAP_TEST_RECORDS_H_
