// Constants of the tap record, version 1 (docs/tap-record-format.md is the contract).
#ifndef DESFIRED_CORE_TAP_FORMAT_H_
#define DESFIRED_CORE_TAP_FORMAT_H_

#include <cstddef>
#include <cstdint>

namespace desfired::tap {

inline constexpr size_t kRecordSize = 32;     // a full record
inline constexpr size_t kMinRecordSize = 28;  // shorter: REJECTED; 28..31: RECORD_TRUNCATED

// Field offsets and lengths.
inline constexpr size_t kTypeOffset = 0x00;
inline constexpr size_t kTimestampOffset = 0x01;  // 4 bytes, LE, Unix seconds
inline constexpr size_t kTerminalOffset = 0x05;   // 3 bytes, LE
inline constexpr size_t kFareOffset = 0x08;       // 2 bytes, LE
inline constexpr size_t kZoneOffset = 0x0A;       // 1 byte
inline constexpr size_t kUidOffset = 0x0B;        // 8 bytes: 7-byte UID + flag byte
inline constexpr size_t kUidLength = 8;
inline constexpr size_t kUidDiversifyLength = 7;  // AN10922 input uses the 7 UID bytes
inline constexpr size_t kMacOffset = 0x13;        // 8 bytes
inline constexpr size_t kMacLength = 8;
inline constexpr size_t kMacCoveredLength = 0x13;  // MAC over bytes 0x00..0x12
inline constexpr size_t kCrcOffset = 0x1B;
inline constexpr size_t kCrcCoveredLength = 0x1B;  // CRC8 over bytes 0x00..0x1A
inline constexpr size_t kPaddingOffset = 0x1C;
inline constexpr uint8_t kPaddingByte = 0xFF;

// Record type byte.
enum class RecordType : uint8_t {
  kEntry = 0x01,
  kExit = 0x02,
  kTransfer = 0x03,
};

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_FORMAT_H_
