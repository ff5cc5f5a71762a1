#include "server/http/http_request.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/util/bytes.h"

namespace desfired::server::http {
namespace {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool IsUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // cut short
    for (size_t k = 1; k <= n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> PercentDecode(absl::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      const int h = i + 1 < s.size() ? HexDigitValue(s[i + 1]) : -1;
      const int l = i + 2 < s.size() ? HexDigitValue(s[i + 2]) : -1;
      if (h < 0 || l < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("'%' at offset ", i, " is not followed by two hex digits"));
      }
      c = static_cast<char>(h * 16 + l);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      return absl::InvalidArgumentError(
          absl::StrCat("a control character (or NUL) near offset ", i));
    }
    out.push_back(c);
  }
  if (!IsUtf8(out)) return absl::InvalidArgumentError("the decoded text is not UTF-8");
  return out;
}

absl::StatusOr<std::vector<std::string>> SplitPath(absl::string_view path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError("the path must start with '/'");
  }
  if (path.size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the path has ", path.size(), " bytes; at most ", kMaxPathBytes));
  }
  std::vector<std::string> segments;
  if (path == "/") return segments;
  for (absl::string_view raw : absl::StrSplit(path.substr(1), '/')) {
    if (raw.empty()) return absl::InvalidArgumentError("the path has an empty segment");
    absl::StatusOr<std::string> seg = PercentDecode(raw, /*plus_is_space=*/false);
    if (!seg.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("path segment ", segments.size() + 1, ": ", seg.status().message()));
    }
    if (*seg == "." || *seg == "..") {
      return absl::InvalidArgumentError("the path has a '.' or '..' segment");
    }
    if (seg->find('/') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("path segment ", segments.size() + 1, " holds an encoded '/'"));
    }
    segments.push_back(*std::move(seg));
  }
  return segments;
}

absl::StatusOr<QueryParams> ParseQuery(absl::string_view query) {
  QueryParams params;
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    if (pair.empty()) continue;
    if (params.size() == kMaxQueryParams) {
      return absl::InvalidArgumentError(
          absl::StrCat("the query has more than ", kMaxQueryParams, " parameters"));
    }
    const size_t eq = pair.find('=');
    const absl::string_view raw_name = pair.substr(0, eq);
    const absl::string_view raw_value =
        eq == absl::string_view::npos ? absl::string_view() : pair.substr(eq + 1);
    if (raw_name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter ", params.size() + 1, " has no name"));
    }
    absl::StatusOr<std::string> name = PercentDecode(raw_name, /*plus_is_space=*/true);
    absl::StatusOr<std::string> value = PercentDecode(raw_value, /*plus_is_space=*/true);
    if (!name.ok() || !value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter ", params.size() + 1, ": ",
                       (!name.ok() ? name.status() : value.status()).message()));
    }
    params.emplace_back(*std::move(name), *std::move(value));
  }
  return params;
}

std::vector<std::string> QueryValues(const QueryParams& params, absl::string_view name) {
  std::vector<std::string> values;
  for (const auto& [n, v] : params) {
    if (n == name) values.push_back(v);
  }
  return values;
}

std::optional<std::string> CookieValue(absl::string_view header, absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(header, ';')) {
    part = absl::StripAsciiWhitespace(part);
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) continue;
    if (absl::StripAsciiWhitespace(part.substr(0, eq)) != name) continue;
    absl::string_view value = absl::StripAsciiWhitespace(part.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return std::string(value);
  }
  return std::nullopt;
}

}  // namespace desfired::server::http
