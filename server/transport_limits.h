// TransportLimits: how long and how many connections and streams desfired keeps, as gRPC
// channel arguments of the server builder (docs/server.md, "Connections and streams").
//
//   ApplyTransportLimits(config.transport, builder);   // before BuildAndStart
//
//   handshake_timeout         a TCP connection that does not complete the TLS / HTTP/2
//                             handshake in time is closed (GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS)
//   connection_idle_timeout   a connection without a call for this long gets GOAWAY and is
//                             closed (GRPC_ARG_MAX_CONNECTION_IDLE_MS); clients reconnect
//   keepalive_time/_timeout   the server pings a connection quiet for keepalive_time, also
//                             while streams are open but silent, and closes it when no answer
//                             comes within keepalive_timeout (GRPC_ARG_KEEPALIVE_TIME_MS,
//                             _TIMEOUT_MS, GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA = 0)
//   max_connections           TCP connections open at once, handshaking ones too, all
//                             clients together; the one beyond is closed at accept
//                             (server/listener.h, not a channel argument)
//   max_connections_per_address  the same per client IP address; 0: no such limit
//   memory_quota              bytes gRPC may hold for all connections (read buffers, requests
//                             received but not yet handed to desfired): beyond it gRPC
//                             cancels streams ("Buffers full", RESOURCE_EXHAUSTED) and
//                             closes idle connections (a grpc::ResourceQuota)
//   max_streams_per_connection  HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: gRPC clients queue
//                             calls beyond it; a client that opens more anyway loses the
//                             connection (gRPC 1.51 treats it as a protocol error)
//
// Thread-compatible: plain data and a function of it.
#ifndef DESFIRED_SERVER_TRANSPORT_LIMITS_H_
#define DESFIRED_SERVER_TRANSPORT_LIMITS_H_

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace grpc {
class ServerBuilder;
}

namespace desfired::server {

struct TransportLimits {
  absl::Duration handshake_timeout = absl::Seconds(20);
  absl::Duration connection_idle_timeout = absl::Minutes(5);
  absl::Duration keepalive_time = absl::Minutes(1);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  int max_streams_per_connection = 2000;  // 1,000 WatchCards on one channel fit
  size_t max_connections = 1000;
  size_t memory_quota = size_t{256} << 20;
  size_t max_connections_per_address = 0;
};

// INVALID_ARGUMENT naming the field: a duration below 1 ms or above 24 days (gRPC takes
// milliseconds as an int), max_streams_per_connection or max_connections below 1, memory_quota
// below 1 MiB.
absl::Status CheckTransportLimits(const TransportLimits& limits);

// Adds the channel arguments above to `builder`.
void ApplyTransportLimits(const TransportLimits& limits, grpc::ServerBuilder& builder);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_TRANSPORT_LIMITS_H_
