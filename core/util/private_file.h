// Reading the small files that hold secrets or settings (the key store, the tokens file, TLS
// certificates and keys), and refusing one that group or others may access.
//
//   absl::StatusOr<std::string> text =
//       ReadSmallFile(path, {.what = "key file", .max_bytes = 1 << 20});
//
// The errors name the file (`what` and the path) and never its content:
//   NOT_FOUND / PERMISSION_DENIED / UNAVAILABLE  "cannot open <what> <path>: <strerror>"
//   INVALID_ARGUMENT     "<what> <path> is not a regular file"
//   FAILED_PRECONDITION  "<what> <path> is accessible by group or others (mode 0644); run:
//                         chmod 600 <path>"  (CheckPrivateMode)
//   INVALID_ARGUMENT     "<what> <path> is larger than <max_bytes> bytes"
// With an empty `what` the messages start with the path ("cannot open <path>: ...").
//
// Thread-safe: no state.
#ifndef DESFIRED_CORE_UTIL_PRIVATE_FILE_H_
#define DESFIRED_CORE_UTIL_PRIVATE_FILE_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace desfired {

// OK when `mode` (a st_mode) gives group and others no access; FAILED_PRECONDITION as above
// otherwise, naming the mode and the chmod that puts it right.
absl::Status CheckPrivateMode(mode_t mode, absl::string_view what, absl::string_view path);

struct SmallFileRules {
  absl::string_view what;  // "key file", "tokens file"; empty: messages start with the path
  size_t max_bytes = 1 << 20;
  bool private_only = true;  // refuse (CheckPrivateMode) a file group or others may access
};

// The whole content of the regular file `path`, checked by `rules` before it is read. The
// returned string is the only copy made of the content (callers may wipe it).
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, const SmallFileRules& rules);

}  // namespace desfired

#endif  // DESFIRED_CORE_UTIL_PRIVATE_FILE_H_
