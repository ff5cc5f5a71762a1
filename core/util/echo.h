// Echo: how an error message or a log line quotes a string a client sent (a reader name, a key
// name, a request id). The server refuses overlong request strings before anything runs
// (server/rpc/request_limits.h); Echo bounds what is quoted wherever that check does not apply
// or has not run yet, so that no error or log line grows with a client's input.
//
//   return absl::NotFoundError(absl::StrCat("no reader named '", Echo(reader), "'"));
//
// A string of at most `max_bytes` bytes is returned as it is. A longer one becomes its first
// bytes, cut at a UTF-8 character boundary so that no character is split, then
// "...(N bytes)" with N the length of the whole string: at most max_bytes + 24 bytes. Escaping
// (JSON, text) stays the business of the writer.
//
// Thread-safe: pure functions.
#ifndef DESFIRED_CORE_UTIL_ECHO_H_
#define DESFIRED_CORE_UTIL_ECHO_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace desfired {

// The most bytes of a client string that an error or a log line quotes (the longest reader name
// the server accepts, server/rpc/request_limits.h).
inline constexpr size_t kMaxEchoBytes = 256;

std::string Echo(absl::string_view s, size_t max_bytes = kMaxEchoBytes);

}  // namespace desfired

#endif  // DESFIRED_CORE_UTIL_ECHO_H_
