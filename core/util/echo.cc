#include "core/util/echo.h"

#include "absl/strings/str_cat.h"

namespace desfired {

std::string Echo(absl::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  size_t cut = max_bytes;
  // Back to the first byte of a character: never end inside a multi-byte sequence.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(s.substr(0, cut), "...(", s.size(), " bytes)");
}

}  // namespace desfired
