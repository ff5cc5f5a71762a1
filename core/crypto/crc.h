// Checksums used by DESFire and by the tap-record format.
//
// - Crc8:  CRC-8/SMBUS (poly 0x07, init 0x00, no reflection, no xorout); check("123456789")
//          = 0xF4. The tap record's CRC8.
// - Crc16A: CRC-16/ISO-IEC-14443-3-A (CRC-A), the legacy DESFire CRC; check = 0xBF05.
//          Appended least significant byte first.
// - Crc32Desfire: CRC-32/JAMCRC (reflected 0x04C11DB7, init 0xFFFFFFFF, no xorout);
//          check = 0x340BC6D9. Appended little-endian.
//
// The `init` overloads continue a running CRC: Crc32Desfire(b, Crc32Desfire(a)) equals
// Crc32Desfire(a ‖ b).
//
// Thread-safe: pure functions.
#ifndef DESFIRED_CORE_CRYPTO_CRC_H_
#define DESFIRED_CORE_CRYPTO_CRC_H_

#include <cstdint>

#include "core/util/bytes.h"

namespace desfired::crypto {

inline constexpr uint8_t kCrc8Init = 0x00;
inline constexpr uint16_t kCrc16AInit = 0x6363;
inline constexpr uint32_t kCrc32DesfireInit = 0xFFFFFFFF;

uint8_t Crc8(ByteSpan data, uint8_t init = kCrc8Init);
// out[m] = Crc8 of the `length` bytes at data[m], for m < count: the records of a batch side by
// side, each byte's table look-up independent of the others (no chain through the CRC).
void Crc8Many(const uint8_t* const* data, size_t length, size_t count, uint8_t* out);
uint16_t Crc16A(ByteSpan data, uint16_t init = kCrc16AInit);
uint32_t Crc32Desfire(ByteSpan data, uint32_t init = kCrc32DesfireInit);

}  // namespace desfired::crypto

#endif  // DESFIRED_CORE_CRYPTO_CRC_H_
