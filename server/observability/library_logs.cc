#include "server/observability/library_logs.h"

#include <string>

#include "google/protobuf/stubs/logging.h"
#include "grpc/support/log.h"
#include "server/observability/log.h"

namespace desfired::log {
namespace {

// "/build/grpc-1.51/src/core/ext/transport/chttp2/server/chttp2_server.cc" → "chttp2_server.cc"
std::string BaseName(const char* file) {
  if (file == nullptr) return "";
  const std::string path(file);
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

void Write(absl::string_view source, Level level, const char* file, int line,
           absl::string_view message) {
  std::shared_ptr<Logger> logger = Logger::Default();
  if (!logger->enabled(level)) return;
  logger->Log(level, message,
              Fields().Str("source", source).Str("file", BaseName(file)).Int("line", line));
}

void GrpcLog(gpr_log_func_args* args) {
  const Level level = args->severity == GPR_LOG_SEVERITY_ERROR  ? Level::kError
                      : args->severity == GPR_LOG_SEVERITY_INFO ? Level::kInfo
                                                                : Level::kDebug;
  Write("grpc", level, args->file, args->line, args->message == nullptr ? "" : args->message);
}

void ProtobufLog(google::protobuf::LogLevel severity, const char* file, int line,
                 const std::string& message) {
  const Level level = severity >= google::protobuf::LOGLEVEL_ERROR     ? Level::kError
                      : severity == google::protobuf::LOGLEVEL_WARNING ? Level::kWarn
                                                                       : Level::kInfo;
  Write("protobuf", level, file, line, message);
}

}  // namespace

void RouteLibraryLogs() {
  gpr_set_log_function(GrpcLog);
  google::protobuf::SetLogHandler(ProtobufLog);
}

}  // namespace desfired::log
