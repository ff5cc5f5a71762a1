#include "core/util/bytes.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace desfired {

namespace {
constexpr char kHexDigits[] = "0123456789abcdef";

// The two hex digits of every byte, so that a byte is one 2-byte copy.
struct HexPairs {
  char of[256][2];
  constexpr HexPairs() : of() {
    for (int b = 0; b < 256; ++b) {
      of[b][0] = kHexDigits[b >> 4];
      of[b][1] = kHexDigits[b & 0x0f];
    }
  }
};
constexpr HexPairs kHexPairs;
}  // namespace

void HexEncodeTo(ByteSpan data, char* out) {
  for (uint8_t b : data) {
    std::memcpy(out, kHexPairs.of[b], 2);
    out += 2;
  }
}

std::string HexEncode(ByteSpan data) {
  std::string out(data.size() * 2, '\0');
  HexEncodeTo(data, out.data());
  return out;
}

HexStop HexDecodeAppend(absl::string_view text, Bytes& out, size_t* offset) {
  int high = -1;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (high < 0 && (c == ' ' || c == '\t' || c == ':' || c == '-')) continue;
    const int v = HexDigitValue(c);
    if (v < 0) {
      *offset = i;
      return HexStop::kNonHex;
    }
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  return high >= 0 ? HexStop::kOddDigits : HexStop::kDone;
}

absl::StatusOr<Bytes> HexDecode(absl::string_view text) {
  Bytes out;
  out.reserve(text.size() / 2);
  size_t offset = 0;
  switch (HexDecodeAppend(text, out, &offset)) {
    case HexStop::kDone:
      return out;
    case HexStop::kNonHex:
      return absl::InvalidArgumentError(absl::StrCat("non-hex character at offset ", offset));
    case HexStop::kOddDigits:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("odd number of hex digits (", out.size() * 2 + 1, ")"));
}

}  // namespace desfired
