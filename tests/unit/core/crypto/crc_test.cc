// CRC-8/SMBUS, CRC-A and CRC-32/JAMCRC check values and DESFire examples.
// Vectors are copied from shared/vectors/desfire_vectors.md (beside the repository) with their
// sources.
#include "core/crypto/crc.h"

#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/util/bytes.h"
#include "gtest/gtest.h"
#include "tests/unit/hex_testing.h"

namespace desfired::crypto {
namespace {

using ::desfired::test_util::Hex;
Bytes Ascii(std::string_view s) { return Bytes(s.begin(), s.end()); }

const Bytes kCheck = Ascii("123456789");

TEST(CrcTest, CheckValues) {
  // RevEng catalogue as copied in madler/crcany allcrcs.txt (vectors §6, §2.5, §2.6).
  EXPECT_EQ(Crc8(kCheck), 0xF4);                 // CRC-8/SMBUS
  EXPECT_EQ(Crc16A(kCheck), 0xBF05);             // CRC-16/ISO-IEC-14443-3-A
  EXPECT_EQ(Crc32Desfire(kCheck), 0x340BC6D9u);  // CRC-32/JAMCRC
}

TEST(CrcTest, Crc8IsNotTheAtmHecVariant) {
  // vectors §6: CRC-8/I-432-1 (same poly, xorout 55) has check A1; ours has no xorout.
  EXPECT_EQ(Crc8(kCheck) ^ 0x55, 0xA1);
  // Residue 00: appending the CRC yields zero.
  Bytes with_crc = kCheck;
  with_crc.push_back(Crc8(kCheck));
  EXPECT_EQ(Crc8(with_crc), 0x00);
}

TEST(CrcTest, EmptyInputReturnsInit) {
  EXPECT_EQ(Crc8(ByteSpan()), kCrc8Init);
  EXPECT_EQ(Crc16A(ByteSpan()), kCrc16AInit);
  EXPECT_EQ(Crc32Desfire(ByteSpan()), kCrc32DesfireInit);
  EXPECT_EQ(Crc8(ByteSpan(), 0x5A), 0x5A);
  EXPECT_EQ(Crc16A(ByteSpan(), 0x1234), 0x1234);
  EXPECT_EQ(Crc32Desfire(ByteSpan(), 0xDEADBEEFu), 0xDEADBEEFu);
}

TEST(CrcTest, Crc32IsComplementOfIeeeCrc32) {
  // vectors §2.5: JAMCRC = ~CRC-32/ISO-HDLC; CRC-32("123456789") = CBF43926.
  EXPECT_EQ(~Crc32Desfire(kCheck), 0xCBF43926u);
}

TEST(CrcTest, Crc32DesfireExamples) {
  // proxmark3 client/src/mifare/desfiretest.c TestCRC32: data 04 44 0F 32 76 31 80 followed
  // by CRC 99 CE 1A D4; that CRC covers data ‖ status 00 (vectors §2.5).
  const Bytes data = Hex("04 44 0F 32 76 31 80");
  uint8_t out[4];
  StoreLe32(Crc32Desfire(Hex("04 44 0F 32 76 31 80 00")), out);
  EXPECT_EQ(HexEncode(out), "99ce1ad4");
  StoreLe32(Crc32Desfire(data), out);
  EXPECT_EQ(HexEncode(out), "637bfea1");  // without the status byte
  // Continuation: CRC over the status byte on top of the data CRC.
  StoreLe32(Crc32Desfire(Hex("00"), Crc32Desfire(data)), out);
  EXPECT_EQ(HexEncode(out), "99ce1ad4");
  // Check value bytes as appended (little-endian).
  StoreLe32(Crc32Desfire(kCheck), out);
  EXPECT_EQ(HexEncode(out), "d9c60b34");
}

TEST(CrcTest, Crc32ChangeKeyExamples) {
  // Elmü ChangeKey cryptograms, skelsec/pydesfire tests.py (vectors §2.4/§2.5).
  EXPECT_EQ(Crc32Desfire(Hex("C4 00  00 10 20 31 40 50 60 70 80 90 A0 B0 B0 A0 90 80")),
            0x5001FFC5u);
  EXPECT_EQ(Crc32Desfire(Hex("C4 00  00 10 20 31 40 50 60 70 80 90 A0 B0 B0 A0 90 80"
                             "70 60 50 40 30 20 10 00")),
            0xA2003ED6u);
  EXPECT_EQ(Crc32Desfire(Hex("C4 00  00 10 20 30 40 50 60 70 80 90 A0 B0 B0 A0 90 80  10")),
            0x6BE6C6D2u);
  EXPECT_EQ(Crc32Desfire(Hex("C4 01  00 10 20 30 40 50 60 70 80 90 A0 B0 B0 A0 90 80  10")),
            0x84B47033u);
  EXPECT_EQ(Crc32Desfire(Hex("00 10 20 30 40 50 60 70 80 90 A0 B0 B0 A0 90 80")), 0x1979E3BFu);
}

TEST(CrcTest, Crc16AExamples) {
  // proxmark3 desfiretest.c TestCRC16: 04 44 0F 32 76 31 80 ‖ 27 98 (no status byte in the
  // legacy CRC; vectors §2.6). Appended least significant byte first.
  uint8_t out[2];
  StoreLe16(Crc16A(Hex("04 44 0F 32 76 31 80")), out);
  EXPECT_EQ(HexEncode(out), "2798");
  StoreLe16(Crc16A(kCheck), out);
  EXPECT_EQ(HexEncode(out), "05bf");
}

TEST(CrcTest, ContinuationOverloads) {
  const Bytes a = Ascii("1234");
  const Bytes b = Ascii("56789");
  EXPECT_EQ(Crc8(b, Crc8(a)), Crc8(kCheck));
  EXPECT_EQ(Crc16A(b, Crc16A(a)), Crc16A(kCheck));
  EXPECT_EQ(Crc32Desfire(b, Crc32Desfire(a)), Crc32Desfire(kCheck));
  // Byte by byte.
  uint8_t c8 = kCrc8Init;
  uint16_t c16 = kCrc16AInit;
  uint32_t c32 = kCrc32DesfireInit;
  for (uint8_t byte : kCheck) {
    c8 = Crc8(ByteSpan(&byte, 1), c8);
    c16 = Crc16A(ByteSpan(&byte, 1), c16);
    c32 = Crc32Desfire(ByteSpan(&byte, 1), c32);
  }
  EXPECT_EQ(c8, 0xF4);
  EXPECT_EQ(c16, 0xBF05);
  EXPECT_EQ(c32, 0x340BC6D9u);
}

// Bit-at-a-time reference implementations of the three models, to check the table-driven
// (and sliced) code paths over many lengths and initial values.
uint8_t RefCrc8(ByteSpan data, uint8_t crc) {
  for (uint8_t b : data) {
    crc ^= b;
    for (int i = 0; i < 8; ++i)
      crc = static_cast<uint8_t>((crc & 0x80) ? (crc << 1) ^ 0x07 : crc << 1);
  }
  return crc;
}
uint16_t RefCrc16A(ByteSpan data, uint16_t crc) {
  for (uint8_t b : data) {
    crc ^= b;
    for (int i = 0; i < 8; ++i)
      crc = static_cast<uint16_t>((crc & 1) ? (crc >> 1) ^ 0x8408 : crc >> 1);
  }
  return crc;
}
uint32_t RefCrc32(ByteSpan data, uint32_t crc) {
  for (uint8_t b : data) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) crc = (crc & 1) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
  }
  return crc;
}

TEST(CrcTest, MatchesBitwiseReferenceForAllLengths) {
  Bytes data(200);
  uint32_t x = 0x12345678;
  for (uint8_t& b : data) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>(x >> 24);
  }
  for (size_t len = 0; len <= data.size(); ++len) {
    const ByteSpan span(data.data(), len);
    for (uint32_t init : {0x00000000u, 0xFFFFFFFFu, 0x6363A5C3u}) {
      const auto init8 = static_cast<uint8_t>(init);
      const auto init16 = static_cast<uint16_t>(init);
      ASSERT_EQ(Crc8(span, init8), RefCrc8(span, init8)) << "len=" << len;
      ASSERT_EQ(Crc16A(span, init16), RefCrc16A(span, init16)) << "len=" << len;
      ASSERT_EQ(Crc32Desfire(span, init), RefCrc32(span, init)) << "len=" << len;
    }
  }
}

// Crc8Many (the batched form: carry-less multiplication for the tap record's 27 bytes where
// the CPU has it, tables otherwise) equals the bitwise reference on random messages of every
// length, each message in its own allocation of exactly `length` bytes (a read past it shows
// under the sanitizers), and on the check value.
TEST(CrcTest, Crc8ManyMatchesBitwiseReference) {
  uint32_t x = 0x9E3779B9;
  for (size_t length : {0, 1, 9, 26, 27, 28, 32, 40}) {
    for (size_t count : {0, 1, 5, 300}) {
      std::vector<Bytes> messages(count, Bytes(length));
      std::vector<const uint8_t*> ptrs;
      for (Bytes& m : messages) {
        for (uint8_t& b : m) {
          x = x * 1103515245u + 12345u;
          b = static_cast<uint8_t>(x >> 24);
        }
        ptrs.push_back(m.data());
      }
      std::vector<uint8_t> got(count + 1, 0xEE);
      Crc8Many(ptrs.data(), length, count, got.data());
      EXPECT_EQ(got[count], 0xEE) << "wrote past the results";
      for (size_t i = 0; i < count; ++i) {
        ASSERT_EQ(got[i], RefCrc8(messages[i], 0)) << "length " << length << " at " << i;
      }
    }
  }
  const Bytes check27 = Ascii("123456789123456789123456789");
  const uint8_t* ptr = check27.data();
  uint8_t crc = 0;
  Crc8Many(&ptr, 27, 1, &crc);
  EXPECT_EQ(crc, Crc8(check27));
}

}  // namespace
}  // namespace desfired::crypto
