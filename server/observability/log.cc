#include "server/observability/log.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "core/util/json_escape.h"
#include "spdlog/logger.h"
#include "spdlog/sinks/basic_file_sink.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace desfired::log {
namespace {

constexpr char kEnvFile[] = "DESFIRED_LOG_FILE";

// JSON's escapes, DEL escaped too (a terminal would act on it), malformed UTF-8 as U+FFFD.
constexpr JsonEscapeOptions kLogEscapes{.escape_del = true};

// A text-format value needs quotes when a reader could not tell where it ends.
bool NeedsQuotes(absl::string_view s) {
  if (s.empty()) return true;
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7F || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

std::string Timestamp(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
}

// Each level with its name (LevelName, ParseLevel) and spdlog's level, in rising order.
struct LevelSpelling {
  Level level;
  absl::string_view name;
  spdlog::level::level_enum spd;
};

constexpr LevelSpelling kLevels[] = {
    {Level::kTrace, "trace", spdlog::level::trace}, {Level::kDebug, "debug", spdlog::level::debug},
    {Level::kInfo, "info", spdlog::level::info},    {Level::kWarn, "warn", spdlog::level::warn},
    {Level::kError, "error", spdlog::level::err},   {Level::kOff, "off", spdlog::level::off},
};
constexpr const LevelSpelling& kInfoLevel = kLevels[2];
static_assert(kInfoLevel.level == Level::kInfo);

// The row of `level`; info's for a value outside the enum.
const LevelSpelling& SpellingOf(Level level) {
  for (const LevelSpelling& l : kLevels) {
    if (l.level == level) return l;
  }
  return kInfoLevel;
}

spdlog::level::level_enum ToSpd(Level level) { return SpellingOf(level).spd; }

std::string ExpandPid(absl::string_view path) {
  return absl::StrReplaceAll(path, {{"%p", absl::StrCat(::getpid())}});
}

absl::Mutex default_mu(absl::kConstInit);
std::shared_ptr<Logger>* default_logger ABSL_GUARDED_BY(default_mu) = nullptr;

}  // namespace

absl::StatusOr<Format> ParseFormat(absl::string_view name) {
  if (name == "json") return Format::kJson;
  if (name == "text") return Format::kText;
  return absl::InvalidArgumentError(
      absl::StrCat("log format '", name, "' is not one of json, text"));
}

absl::StatusOr<Level> ParseLevel(absl::string_view name) {
  for (const LevelSpelling& l : kLevels) {
    if (name == l.name) return l.level;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("log level '", name, "' is not one of trace, debug, info, warn, error, off"));
}

absl::string_view LevelName(Level level) { return SpellingOf(level).name; }

Fields& Fields::Str(absl::string_view key, absl::string_view value) {
  if (!value.empty()) fields_.push_back({std::string(key), std::string(value), true});
  return *this;
}

Fields& Fields::Int(absl::string_view key, int64_t value) {
  fields_.push_back({std::string(key), absl::StrCat(value), false});
  return *this;
}

Fields& Fields::Num(absl::string_view key, double value) {
  fields_.push_back({std::string(key), absl::StrFormat("%.3f", value), false});
  return *this;
}

Fields& Fields::Bool(absl::string_view key, bool value) {
  fields_.push_back({std::string(key), value ? "true" : "false", false});
  return *this;
}

std::string JsonEscape(absl::string_view s) {
  std::string out;
  AppendJsonEscaped(out, s, kLogEscapes);
  return out;
}

std::string FormatLine(Format format, absl::Time time, Level level, absl::string_view msg,
                       const Fields& fields) {
  std::string line;
  if (format == Format::kJson) {
    absl::StrAppend(&line, "{\"ts\":\"", Timestamp(time), "\",\"level\":\"", LevelName(level),
                    "\",\"msg\":\"", JsonEscape(msg), "\"");
    for (const Fields::Field& f : fields.fields()) {
      absl::StrAppend(&line, ",\"", JsonEscape(f.key), "\":");
      if (f.quoted) {
        absl::StrAppend(&line, "\"", JsonEscape(f.value), "\"");
      } else {
        absl::StrAppend(&line, f.value);
      }
    }
    line += "}";
    return line;
  }
  std::string level_name(LevelName(level));
  for (char& c : level_name) c = static_cast<char>(c - 'a' + 'A');
  absl::StrAppend(&line, Timestamp(time), " ", level_name, " ", JsonEscape(msg));
  for (const Fields::Field& f : fields.fields()) {
    absl::StrAppend(&line, " ", JsonEscape(f.key), "=");
    if (f.quoted && NeedsQuotes(f.value)) {
      absl::StrAppend(&line, "\"", JsonEscape(f.value), "\"");
    } else {
      absl::StrAppend(&line, f.value);
    }
  }
  return line;
}

Logger::Logger(Format format, Level level, std::shared_ptr<spdlog::logger> out,
               std::vector<std::string> files)
    : format_(format), level_(level), out_(std::move(out)), files_(std::move(files)) {}

Logger::~Logger() {
  if (out_) out_->flush();
}

absl::StatusOr<std::shared_ptr<Logger>> Logger::Create(const LogOptions& options) {
  std::vector<spdlog::sink_ptr> sinks;
  std::vector<std::string> files;
  if (options.to_stderr) sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  std::vector<std::pair<std::string, std::string>> wanted;  // path, where it came from
  if (!options.file.empty()) wanted.emplace_back(ExpandPid(options.file), "log file");
  if (options.use_env_file) {
    const char* env = std::getenv(kEnvFile);
    if (env != nullptr && *env != '\0') wanted.emplace_back(ExpandPid(env), kEnvFile);
  }
  for (const auto& [path, origin] : wanted) {
    if (std::find(files.begin(), files.end(), path) != files.end()) continue;
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, false));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, " '", path, "' cannot be opened: ", e.what()));
    }
    files.push_back(path);
  }
  auto out = std::make_shared<spdlog::logger>("desfired", sinks.begin(), sinks.end());
  out->set_pattern("%v");
  out->set_level(ToSpd(options.level));
  out->flush_on(spdlog::level::trace);  // every line reaches the files at once
  return std::shared_ptr<Logger>(
      new Logger(options.format, options.level, std::move(out), std::move(files)));
}

std::shared_ptr<Logger> Logger::Default() {
  absl::MutexLock lock(&default_mu);
  if (default_logger == nullptr) {
    absl::StatusOr<std::shared_ptr<Logger>> logger = Create({});
    if (!logger.ok()) {
      std::fprintf(stderr, "desfired: %s; logging to stderr only\n",
                   std::string(logger.status().message()).c_str());
      logger = Create({.use_env_file = false});
    }
    default_logger = new std::shared_ptr<Logger>(*std::move(logger));
  }
  return *default_logger;
}

void Logger::SetDefault(std::shared_ptr<Logger> logger) {
  absl::MutexLock lock(&default_mu);
  if (default_logger == nullptr) {
    default_logger = new std::shared_ptr<Logger>(std::move(logger));
  } else {
    *default_logger = std::move(logger);
  }
}

void Logger::Log(Level level, absl::string_view msg, const Fields& fields) {
  if (!enabled(level)) return;
  const std::string line = FormatLine(format_, absl::Now(), level, msg, fields);
  out_->log(spdlog::source_loc{}, ToSpd(level), spdlog::string_view_t(line.data(), line.size()));
}

}  // namespace desfired::log
