// Fuzz target: the HTTP API's request parsers (server/http/http_request.h) — the path, the
// query string and the Cookie header — over arbitrary bytes. The first byte picks the parser.
// Whatever they accept must hold no control character, and a path no '/' in a segment, no
// empty, "." or ".." segment.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "server/http/http_request.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

bool Clean(const std::string& s) {
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using namespace desfired::server::http;  // NOLINT
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: {
      absl::StatusOr<std::vector<std::string>> segments = SplitPath(text);
      if (!segments.ok()) break;
      for (const std::string& s : *segments) {
        Check(!s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos);
        Check(Clean(s));
      }
      break;
    }
    case 1: {
      absl::StatusOr<QueryParams> params = ParseQuery(text);
      if (!params.ok()) break;
      Check(params->size() <= kMaxQueryParams);
      for (const auto& [name, value] : *params) Check(!name.empty() && Clean(name) && Clean(value));
      break;
    }
    default: {
      const size_t split = text.find('\n');
      const std::string name =
          split == std::string::npos ? "desfired_session" : text.substr(0, split);
      const std::string header = split == std::string::npos ? text : text.substr(split + 1);
      std::optional<std::string> value = CookieValue(header, name);
      if (value) Check(value->size() <= header.size());
      break;
    }
  }
  return 0;
}
