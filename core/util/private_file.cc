#include "core/util/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace desfired {
namespace {

// "<what> <path>", or the path alone.
std::string Name(absl::string_view what, absl::string_view path) {
  return what.empty() ? std::string(path) : absl::StrCat(what, " ", path);
}

}  // namespace

absl::Status CheckPrivateMode(mode_t mode, absl::string_view what, absl::string_view path) {
  if ((mode & (S_IRWXG | S_IRWXO)) == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrFormat("%s is accessible by group or others (mode %04o); run: chmod 600 %s",
                      Name(what, path), mode & 07777, path));
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, const SmallFileRules& rules) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg =
        absl::StrCat("cannot open ", Name(rules.what, path), ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    if (err == EACCES) return absl::PermissionDeniedError(msg);
    return absl::UnavailableError(msg);
  }
  struct stat st {};
  absl::Status refused;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    refused =
        absl::InvalidArgumentError(absl::StrCat(Name(rules.what, path), " is not a regular file"));
  } else if (rules.private_only) {
    refused = CheckPrivateMode(st.st_mode, rules.what, path);
  }
  if (refused.ok() && static_cast<size_t>(st.st_size) > rules.max_bytes) {
    refused = absl::InvalidArgumentError(
        absl::StrCat(Name(rules.what, path), " is larger than ", rules.max_bytes, " bytes"));
  }
  if (!refused.ok()) {
    ::close(fd);
    return refused;
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(done);  // shrinking keeps the buffer: no copy of the content is left behind
  return text;
}

}  // namespace desfired
