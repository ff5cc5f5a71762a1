#include "client/cli/progress.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace desfired::cli {

std::string Progress::Line(uint64_t records, uint64_t bytes, uint64_t total_bytes) {
  std::string line = absl::StrCat("parsed ", records, " records");
  if (total_bytes == 0) {
    absl::StrAppend(&line, absl::StrFormat("  (%.1f MB)", static_cast<double>(bytes) / 1e6));
    return line;
  }
  constexpr int kWidth = 20;
  const double fraction =
      std::min(1.0, static_cast<double>(bytes) / static_cast<double>(total_bytes));
  const int filled = static_cast<int>(fraction * kWidth);
  absl::StrAppend(
      &line, "  [", std::string(filled, '#'), std::string(kWidth - filled, '-'), "]",
      absl::StrFormat("  %3d%%  %.1f of %.1f MB", static_cast<int>(fraction * 100),
                      static_cast<double>(bytes) / 1e6, static_cast<double>(total_bytes) / 1e6));
  return line;
}

void Progress::Tick(uint64_t records, uint64_t bytes) {
  // Looked at once per 16384 records (however many records a call moves on: one, or a chunk).
  if (!enabled_ || records < next_check_) return;
  next_check_ = (records | 0x3fff) + 1;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  std::fprintf(stderr, "\r%s\033[K", Line(records, bytes, total_bytes_).c_str());
  std::fflush(stderr);
  shown_ = true;
}

void Progress::Done() {
  if (shown_) std::fprintf(stderr, "\r\033[K");
  shown_ = false;
}

uint64_t InputSize(const std::string& path) {
  struct stat st;
  if (path == "-" || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace desfired::cli
