// Byte buffers and hex conversion.
//
// Owned bytes are `Bytes` (std::vector<uint8_t>); borrowed bytes are `ByteSpan`.
//
//   absl::StatusOr<Bytes> key = HexDecode("2b7e1516 28aed2a6");  // spaces allowed
//   std::string text = HexEncode(*key);                         // "2b7e151628aed2a6"
//
// Thread-safe: all functions are pure.
#ifndef DESFIRED_CORE_UTIL_BYTES_H_
#define DESFIRED_CORE_UTIL_BYTES_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace desfired {

using Bytes = std::vector<uint8_t>;
using ByteSpan = absl::Span<const uint8_t>;
using MutableByteSpan = absl::Span<uint8_t>;

// The bytes of a string (a proto `bytes` field), and back.
inline ByteSpan AsBytes(absl::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string AsString(ByteSpan b) { return std::string(b.begin(), b.end()); }

// The parts one after the other (RndA ‖ RndB ‖ E ...).
inline Bytes Concat(std::initializer_list<ByteSpan> parts) {
  Bytes out;
  for (ByteSpan p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Lower-case hex of `data`, no separators.
std::string HexEncode(ByteSpan data);

// Writes 2 * data.size() lower-case hex characters to `out` (no terminator). For hot paths
// that must not allocate.
void HexEncodeTo(ByteSpan data, char* out);

// Decodes hex digits (either case). Spaces, tabs, ':' and '-' between byte pairs are skipped.
// Returns INVALID_ARGUMENT naming the offset of the first non-hex character, or saying that
// the number of digits is odd.
absl::StatusOr<Bytes> HexDecode(absl::string_view text);

// Why HexDecodeAppend stopped.
enum class HexStop {
  kDone,       // every digit decoded
  kNonHex,     // at a non-hex character (its offset in *offset)
  kOddDigits,  // after the last pair: one digit was left over
};

// Decodes `text` as HexDecode does, appending each byte to `out` as it is read (so `out` keeps
// the bytes before a fault).
HexStop HexDecodeAppend(absl::string_view text, Bytes& out, size_t* offset);

// Value of one hex digit, or -1.
inline int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Little-endian loads from a buffer the caller has checked to be long enough.
inline uint32_t LoadLe16(const uint8_t* p) { return uint32_t{p[0]} | uint32_t{p[1]} << 8; }
inline uint32_t LoadLe24(const uint8_t* p) { return LoadLe16(p) | uint32_t{p[2]} << 16; }
inline uint32_t LoadLe32(const uint8_t* p) { return LoadLe24(p) | uint32_t{p[3]} << 24; }
inline void StoreLe16(uint32_t v, uint8_t* p) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
inline void StoreLe24(uint32_t v, uint8_t* p) {
  StoreLe16(v, p);
  p[2] = static_cast<uint8_t>(v >> 16);
}
inline void StoreLe32(uint32_t v, uint8_t* p) {
  StoreLe24(v, p);
  p[3] = static_cast<uint8_t>(v >> 24);
}

}  // namespace desfired

#endif  // DESFIRED_CORE_UTIL_BYTES_H_
