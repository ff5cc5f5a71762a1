#include "server/transport_limits.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/server_builder.h"

namespace desfired::server {
namespace {

constexpr absl::Duration kLongest = absl::Hours(24 * 24);  // < 2^31 ms

absl::Status CheckDuration(absl::string_view field, absl::Duration d) {
  if (d < absl::Milliseconds(1) || d > kLongest) {
    return absl::InvalidArgumentError(
        absl::StrCat("config ", field, ": must be 1ms..", absl::FormatDuration(kLongest)));
  }
  return absl::OkStatus();
}

int Ms(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

}  // namespace

absl::Status CheckTransportLimits(const TransportLimits& l) {
  for (const auto& [field, d] :
       {std::pair<absl::string_view, absl::Duration>{"handshake_timeout", l.handshake_timeout},
        {"connection_idle_timeout", l.connection_idle_timeout},
        {"keepalive_time", l.keepalive_time},
        {"keepalive_timeout", l.keepalive_timeout}}) {
    if (absl::Status s = CheckDuration(field, d); !s.ok()) return s;
  }
  if (l.max_streams_per_connection < 1) {
    return absl::InvalidArgumentError("config max_streams_per_connection: must be at least 1");
  }
  if (l.memory_quota < (size_t{1} << 20)) {
    return absl::InvalidArgumentError("config grpc_memory_quota: must be at least 1 MiB");
  }
  if (l.max_connections < 1) {
    return absl::InvalidArgumentError("config max_connections: must be at least 1");
  }
  return absl::OkStatus();
}

void ApplyTransportLimits(const TransportLimits& l, grpc::ServerBuilder& builder) {
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, Ms(l.handshake_timeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, Ms(l.connection_idle_timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Ms(l.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Ms(l.keepalive_timeout));
  // Keep pinging a connection whose streams are open but quiet (a WatchCards without events).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, l.max_streams_per_connection);
  grpc::ResourceQuota quota("desfired");
  quota.Resize(l.memory_quota);
  builder.SetResourceQuota(quota);
}

}  // namespace desfired::server
