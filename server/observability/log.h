// Structured logs of desfired: one line per event, JSON (the default) or text, written through
// spdlog sinks to stderr and, optionally, appended to files.
//
//   absl::StatusOr<std::shared_ptr<log::Logger>> logger = log::Logger::Create({
//       .format = log::Format::kJson, .level = log::Level::kInfo, .file = "/var/log/d.log"});
//   (*logger)->Info("rpc", log::Fields()
//                              .Str("request_id", "r-1")
//                              .Str("method", "Debit")
//                              .Num("latency_ms", 12.5));
//
// A JSON line (docs/observability.md):
//   {"ts":"2025-01-02T03:04:05.678Z","level":"info","msg":"rpc","request_id":"r-1",
//    "method":"Debit","latency_ms":12.500}
// ts is RFC 3339 in UTC with milliseconds; level is trace|debug|info|warn|error; then msg, then
// the fields in the order they were added. Strings are escaped as JSON requires: `"` and `\`,
// control characters (\n, \t, ... and \u00XX), and every byte that is not part of well-formed
// UTF-8 becomes U+FFFD, so a line is always valid JSON on one line whatever a client sent.
// The text format says the same on one line: `TS LEVEL msg key=value ...`, a value quoted
// (with the same escapes) when it is empty or holds a space, `"`, `=` or any byte outside
// printable ASCII.
//
// Files: LogOptions::file and the environment variable DESFIRED_LOG_FILE each name a file the
// lines are appended to (in addition to stderr); "%p" in the name becomes the process id, so
// that processes sharing the setting (every test of a ctest run) write files of their own.
// Every line is flushed as it is written.
//
// What is never logged (whoever calls the logger must keep it so):
//   - key values, key file contents, tokens and any other credential (name a key, never show
//     its bytes; an error about a key file names the file and the line);
//   - card data: what ReadData/ReadRecords/ReadTapLog return or WriteData/WriteRecord send,
//     session keys, cryptograms and APDU frames (frame logging is not wired in the server);
//   - request bodies as a whole.
// What a line may carry: request_id, method, reader, caller (peer or authenticated name),
// gRPC code and ErrorInfo reason, latency, counts, configuration that is not secret (paths,
// addresses, limits).
//
// Thread-safe: a Logger may be used from any thread; Default/SetDefault too.
#ifndef DESFIRED_SERVER_OBSERVABILITY_LOG_H_
#define DESFIRED_SERVER_OBSERVABILITY_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace spdlog {
class logger;
}

namespace desfired::log {

enum class Format { kJson, kText };
enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// "json" | "text"; INVALID_ARGUMENT naming the value otherwise.
absl::StatusOr<Format> ParseFormat(absl::string_view name);
// "trace" | "debug" | "info" | "warn" | "error" | "off"; INVALID_ARGUMENT otherwise.
absl::StatusOr<Level> ParseLevel(absl::string_view name);
absl::string_view LevelName(Level level);

// The fields of one line after msg, in the order added. Keys are plain identifiers chosen by
// the code (never "ts", "level" or "msg"); values are escaped.
class Fields {
 public:
  // A string field; left out when `value` is empty ("where known").
  Fields& Str(absl::string_view key, absl::string_view value);
  Fields& Int(absl::string_view key, int64_t value);
  // A number written with three decimals (latency_ms).
  Fields& Num(absl::string_view key, double value);
  Fields& Bool(absl::string_view key, bool value);

  struct Field {
    std::string key;
    std::string value;  // strings raw; numbers and booleans already as JSON text
    bool quoted = true;
  };
  const std::vector<Field>& fields() const { return fields_; }

 private:
  std::vector<Field> fields_;
};

// `s` as the body of a JSON string (without the surrounding quotes), escaped as above.
std::string JsonEscape(absl::string_view s);

// One line (without the newline) in `format`.
std::string FormatLine(Format format, absl::Time time, Level level, absl::string_view msg,
                       const Fields& fields);

struct LogOptions {
  Format format = Format::kJson;
  Level level = Level::kInfo;
  bool to_stderr = true;
  // Appended to, created with its directory when missing; "%p" becomes the pid. Empty: none.
  std::string file = {};
  // Also append to the file named by DESFIRED_LOG_FILE when it is set.
  bool use_env_file = true;
};

class Logger {
 public:
  // Opens the files. INVALID_ARGUMENT naming the file (and the variable, for
  // DESFIRED_LOG_FILE) when one cannot be opened.
  static absl::StatusOr<std::shared_ptr<Logger>> Create(const LogOptions& options);

  // The process's logger for code that is given none: JSON at info to stderr and
  // DESFIRED_LOG_FILE (a file that cannot be opened is reported on stderr and skipped), until
  // SetDefault replaces it.
  static std::shared_ptr<Logger> Default();
  static void SetDefault(std::shared_ptr<Logger> logger);

  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  bool enabled(Level level) const { return level >= level_ && level != Level::kOff; }
  void Log(Level level, absl::string_view msg, const Fields& fields = Fields());
  void Debug(absl::string_view msg, const Fields& fields = Fields()) {
    Log(Level::kDebug, msg, fields);
  }
  void Info(absl::string_view msg, const Fields& fields = Fields()) {
    Log(Level::kInfo, msg, fields);
  }
  void Warn(absl::string_view msg, const Fields& fields = Fields()) {
    Log(Level::kWarn, msg, fields);
  }
  void Error(absl::string_view msg, const Fields& fields = Fields()) {
    Log(Level::kError, msg, fields);
  }

  Format format() const { return format_; }
  Level level() const { return level_; }
  // The files written to (after "%p" expansion).
  const std::vector<std::string>& files() const { return files_; }

 private:
  Logger(Format format, Level level, std::shared_ptr<spdlog::logger> out,
         std::vector<std::string> files);

  const Format format_;
  const Level level_;
  const std::shared_ptr<spdlog::logger> out_;
  const std::vector<std::string> files_;
};

}  // namespace desfired::log

#endif  // DESFIRED_SERVER_OBSERVABILITY_LOG_H_
