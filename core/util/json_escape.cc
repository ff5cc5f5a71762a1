#include "core/util/json_escape.h"

#include <cstddef>

#include "absl/strings/match.h"

namespace desfired {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0 when the byte there starts none.
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = at(i);
  const auto cont = [&](size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < s.size() && at(k) >= lo && at(k) <= hi;
  };
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (b0 == 0xE0) return cont(i + 1, 0xA0, 0xBF) && cont(i + 2) ? 3 : 0;
  if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
    return cont(i + 1) && cont(i + 2) ? 3 : 0;
  }
  if (b0 == 0xED) return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 0;  // no surrogates
  if (b0 == 0xF0) return cont(i + 1, 0x90, 0xBF) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (b0 >= 0xF1 && b0 <= 0xF3) return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (b0 == 0xF4) return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  return 0;
}

// The letter of the two-character escape of control character `c` ('n' for \n), or 0.
char ShortEscape(unsigned char c) {
  switch (c) {
    case '\b':
      return 'b';
    case '\f':
      return 'f';
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    case '\t':
      return 't';
  }
  return 0;
}

void AppendUnicodeEscape(std::string& out, unsigned char c) {
  out += "\\u00";
  out.push_back(kHexDigits[c >> 4]);
  out.push_back(kHexDigits[c & 0xF]);
}

}  // namespace

void AppendJsonEscaped(std::string& out, absl::string_view s, const JsonEscapeOptions& options) {
  out.reserve(out.size() + s.size() + 2);
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = options.replace_invalid_utf8 ? Utf8SequenceLength(s, i) : 1;
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      const char letter = ShortEscape(c);
      if (letter != 0 && absl::StrContains(options.short_escapes, static_cast<char>(c))) {
        out.push_back('\\');
        out.push_back(letter);
      } else {
        AppendUnicodeEscape(out, c);
      }
    } else if (c == 0x7F && options.escape_del) {
      AppendUnicodeEscape(out, c);
    } else {
      out.push_back(static_cast<char>(c));
    }
    ++i;
  }
}

void AppendJsonString(std::string& out, absl::string_view s, const JsonEscapeOptions& options) {
  out.push_back('"');
  AppendJsonEscaped(out, s, options);
  out.push_back('"');
}

std::string JsonQuote(absl::string_view s, const JsonEscapeOptions& options) {
  std::string out;
  AppendJsonString(out, s, options);
  return out;
}

}  // namespace desfired
