// Listener: desfired's own TCP listening sockets and accept loop in front of gRPC, so that the
// connections open at once are bounded — overall and per client address — before a byte of
// TLS or HTTP/2 is read (gRPC 1.51's server has no such limit; docs/server.md, "Connections
// and streams").
//
//   DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Listener> listener,
//                             Listener::Bind({.listen = "127.0.0.1:0", .max_connections = 1000}));
//   auto acceptor = builder.experimental().AddExternalConnectionAcceptor(
//       grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, credentials);
//   server = builder.BuildAndStart();
//   listener->Start(std::move(acceptor));       // connections from here on go to the server
//   ... listener->port(), listener->open_connections() ...
//   listener->Stop();                           // before the server shuts down
//
// A connection is counted from accept() until its socket is hung up. One beyond a limit is
// accepted and closed at once (the client sees the connection close before the handshake and
// retries with its backoff); on_refused says which limit.
//
// How a close is seen: the listener keeps a duplicate of each connection's descriptor and
// waits on it for a hang-up. gRPC shuts a socket down (shutdown(2)) whenever it closes a
// connection — idle timeout, handshake timeout, keepalive, a broken stream, server shutdown —
// and a client that closes hangs it up too; the listener then closes its duplicate. Each
// connection thus holds two descriptors: Bind fails when RLIMIT_NOFILE (raised to its hard
// limit first) cannot hold 2 × max_connections plus a margin.
//
// Thread-safe: Start and Stop from one thread; the counters from any. The callbacks run on the
// accept thread and must not block.
#ifndef DESFIRED_SERVER_LISTENER_H_
#define DESFIRED_SERVER_LISTENER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc::experimental {
class ExternalConnectionAcceptor;
}

namespace desfired::server {

// What a refused connection ran into (the metric's reason label).
inline constexpr absl::string_view kMaxConnections = "max_connections";
inline constexpr absl::string_view kMaxConnectionsPerAddress = "max_connections_per_address";

class Listener {
 public:
  struct Options {
    // host:port as in ServerConfig::listen: a name ("localhost") binds every address it
    // resolves to, on one port; port 0 picks a free one.
    std::string listen;
    // Connections open at once, all clients together; at least 1.
    size_t max_connections = 1000;
    // Connections open at once from one IP address; 0: no such limit.
    size_t max_connections_per_address = 0;
    // After every change of the number of open connections, with the new number.
    std::function<void(size_t open)> on_open = nullptr;
    // A connection refused, with kMaxConnections or kMaxConnectionsPerAddress.
    std::function<void(absl::string_view limit)> on_refused = nullptr;
  };

  // Binds and listens. UNAVAILABLE naming the address and the cause ("cannot listen on
  // 127.0.0.1:50051: address in use"); INVALID_ARGUMENT naming max_connections when it
  // is 0 or the descriptor limit cannot hold it.
  static absl::StatusOr<std::unique_ptr<Listener>> Bind(Options options);
  ~Listener();  // Stop()
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // The port bound (the same on every address).
  int port() const { return port_; }

  // Starts accepting; admitted connections are handed to `acceptor`, which must belong to a
  // started server and outlive Stop().
  void Start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor);
  // Stops accepting and closes the listening sockets; connections already handed over stay
  // with the server. Idempotent.
  void Stop();

  size_t open_connections() const { return open_.load(); }
  uint64_t refused() const { return refused_.load(); }

 private:
  explicit Listener(Options options);
  void Loop();
  void Accept(int listen_fd);
  void Closed(int dup_fd);

  Options options_;
  int port_ = 0;
  std::vector<int> listen_fds_;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;  // an eventfd that wakes the loop for Stop()
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  std::thread thread_;
  // Owned by the accept thread: each connection's duplicate descriptor → its address.
  std::map<int, std::string> connections_;
  std::map<std::string, size_t> per_address_;
  std::atomic<size_t> open_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_LISTENER_H_
