// The log lines of the libraries desfired links — gRPC core (gpr_log) and protobuf
// (GOOGLE_LOG) — written through desfired's logger (log.h) instead of raw text on stderr, so
// that with --log_format json every stderr line is one JSON object (`jq` reads the whole
// stream). A gRPC line becomes
//
//   {"ts":...,"level":"error","msg":"...gRPC's
//   text...","source":"grpc","file":"chttp2_server.cc","line":1034}
//
// at its gRPC severity (DEBUG, INFO, ERROR → debug, info, error); which gRPC lines exist at
// all is still chosen by GRPC_VERBOSITY (default ERROR) and GRPC_TRACE. Protobuf's lines
// carry "source":"protobuf" (a FATAL one still aborts, as protobuf does).
//
//   RouteLibraryLogs();   // once, early in main; later SetDefault calls are followed
//
// Lines go to log::Logger::Default() at the time each is written. gRPC's text is escaped like
// any field (log.h); it never holds keys or tokens, but may name peers and addresses.
//
// Thread-safe: the handlers are called from any library thread.
#ifndef DESFIRED_SERVER_OBSERVABILITY_LIBRARY_LOGS_H_
#define DESFIRED_SERVER_OBSERVABILITY_LIBRARY_LOGS_H_

namespace desfired::log {

void RouteLibraryLogs();

}  // namespace desfired::log

#endif  // DESFIRED_SERVER_OBSERVABILITY_LIBRARY_LOGS_H_
