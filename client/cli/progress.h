// Progress of a long `taps parse` on a terminal: one line on stderr, redrawn in place at most
// five times a second, and erased by Done():
//
//   parsed 163840 records  [#########-----------]  45%  12.3 of 27.1 MB      (size known)
//   parsed 163840 records  (12.3 MB)                                         (stdin, a pipe)
//
// Disabled (every call a no-op) unless enabled at construction: callers pass
// isatty(STDERR_FILENO) and the absence of --no-progress. Thread-compatible: one thread at a
// time (the ParseTapStream writer thread, then the caller after the stream ended).
#ifndef DESFIRED_CLIENT_CLI_PROGRESS_H_
#define DESFIRED_CLIENT_CLI_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace desfired::cli {

class Progress {
 public:
  // `total_bytes`: the input's size when known (a regular file), else 0.
  Progress(bool enabled, uint64_t total_bytes) : enabled_(enabled), total_bytes_(total_bytes) {}

  // Records and bytes read so far (called per record or per chunk). Cheap when nothing is
  // drawn.
  void Tick(uint64_t records, uint64_t bytes);
  // Erases the line (when one was drawn).
  void Done();

  // The line for these counts (without the carriage return); exposed for tests.
  static std::string Line(uint64_t records, uint64_t bytes, uint64_t total_bytes);

 private:
  bool enabled_;
  uint64_t total_bytes_;
  bool shown_ = false;
  uint64_t next_check_ = 0x4000;  // Tick looks at the clock from this many records on
  std::chrono::steady_clock::time_point last_{};
};

// The size of the regular file at `path`, or 0 ("-", a pipe, a device, an error).
uint64_t InputSize(const std::string& path);

}  // namespace desfired::cli

#endif  // DESFIRED_CLIENT_CLI_PROGRESS_H_
