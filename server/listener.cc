#include "server/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/server_builder.h"

namespace desfired::server {
namespace {

// Descriptors besides the connections': pcscd, the ledger, metrics, logs, gRPC's own.
constexpr rlim_t kDescriptorMargin = 256;

struct HostPort {
  std::string host;  // empty: every local address
  std::string port;
};

absl::StatusOr<HostPort> SplitListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("config listen: '", listen, "' is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return HostPort{std::move(host), std::to_string(port)};
}

// The cause of a failed bind or listen, as the operator reads it.
std::string ErrnoCause(int error) {
  switch (error) {
    case EADDRINUSE:
      return "address in use";
    case EADDRNOTAVAIL:
      return "address not available on this host";
    case EACCES:
      return "permission denied (ports below 1024 need privileges)";
    default:
      return std::strerror(error);
  }
}

absl::Status ListenError(const std::string& listen, int error) {
  return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, ": ", ErrnoCause(error)));
}

// Room for two descriptors per connection, raising the soft limit up to the hard one.
absl::Status ReserveDescriptors(size_t max_connections) {
  const rlim_t needed = static_cast<rlim_t>(max_connections) * 2 + kDescriptorMargin;
  struct rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return absl::OkStatus();
  if (limit.rlim_cur >= needed) return absl::OkStatus();
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) {
    return absl::InvalidArgumentError(
        absl::StrCat("config max_connections: ", max_connections, " connections need ", needed,
                     " file descriptors, above the hard limit (RLIMIT_NOFILE) of ", limit.rlim_max,
                     "; lower max_connections or raise the limit (ulimit -n, LimitNOFILE=)"));
  }
  limit.rlim_cur = needed;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("config max_connections: cannot raise the file "
                     "descriptor limit to ",
                     needed, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// The numeric address of a connection's peer ("" when unknown).
std::string PeerAddress(const sockaddr_storage& peer, socklen_t length) {
  char host[NI_MAXHOST];
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&peer), length, host, sizeof(host), nullptr,
                    0, NI_NUMERICHOST) != 0) {
    return "";
  }
  return host;
}

// A listening socket on `address` (port from it), or the errno.
int ListenOn(const addrinfo& address, bool v6_only, int* error) {
  const int fd = ::socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = errno;
    return -1;
  }
  const int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // restarts: TIME_WAIT
  if (address.ai_family == AF_INET6) {
    const int only = v6_only ? 1 : 0;
    (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof(only));
  }
  if (::bind(fd, address.ai_addr, address.ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    *error = errno;
    ::close(fd);
    return -1;
  }
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage bound;
  socklen_t length = sizeof(bound);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) return 0;
  if (bound.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port);
}

void SetPort(addrinfo& address, int port) {
  if (address.ai_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(address.ai_addr)->sin_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in6*>(address.ai_addr)->sin6_port =
        htons(static_cast<uint16_t>(port));
  }
}

}  // namespace

Listener::Listener(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Listener>> Listener::Bind(Options options) {
  if (options.max_connections == 0) {
    return absl::InvalidArgumentError("config max_connections: must be at least 1");
  }
  absl::StatusOr<HostPort> split = SplitListen(options.listen);
  if (!split.ok()) return split.status();
  if (absl::Status reserved = ReserveDescriptors(options.max_connections); !reserved.ok()) {
    return reserved;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const int resolved = ::getaddrinfo(split->host.empty() ? nullptr : split->host.c_str(),
                                     split->port.c_str(), &hints, &found);
  if (resolved != 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen,
                                               ": cannot resolve '", split->host,
                                               "': ", ::gai_strerror(resolved)));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, ::freeaddrinfo);
  bool any_v4 = false;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) any_v4 |= a->ai_family == AF_INET;

  std::unique_ptr<Listener> l(new Listener(std::move(options)));
  int first_error = 0;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    if (l->port_ != 0) SetPort(*a, l->port_);  // every address on the first one's port
    int error = 0;
    const int fd = ListenOn(*a, /*v6_only=*/any_v4, &error);
    if (fd < 0) {
      // A name may resolve to an address family this host lacks (::1 without IPv6): the
      // others serve. An address in use is an error wherever it is.
      if (error == EADDRINUSE || first_error == 0) first_error = error;
      if (error == EADDRINUSE) break;
      continue;
    }
    l->listen_fds_.push_back(fd);
    if (l->port_ == 0) l->port_ = BoundPort(fd);
  }
  if (l->listen_fds_.empty() || first_error == EADDRINUSE) {
    return ListenError(l->options_.listen, first_error != 0 ? first_error : EADDRNOTAVAIL);
  }
  l->epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  l->stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (l->epoll_fd_ < 0 || l->stop_fd_ < 0) return ListenError(l->options_.listen, errno);
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.fd = l->stop_fd_;
  (void)::epoll_ctl(l->epoll_fd_, EPOLL_CTL_ADD, l->stop_fd_, &wake);
  for (int fd : l->listen_fds_) {
    epoll_event incoming{};
    incoming.events = EPOLLIN;
    incoming.data.fd = fd;
    (void)::epoll_ctl(l->epoll_fd_, EPOLL_CTL_ADD, fd, &incoming);
  }
  return l;
}

Listener::~Listener() {
  Stop();
  for (int fd : {epoll_fd_, stop_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

void Listener::Start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor) {
  acceptor_ = std::move(acceptor);
  thread_ = std::thread([this] { Loop(); });
}

void Listener::Stop() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    (void)::write(stop_fd_, &one, sizeof(one));
    thread_.join();
  }
  for (int fd : listen_fds_) ::close(fd);
  listen_fds_.clear();
  // The connections stay with the server; only the listener's watch on them ends.
  for (const auto& [dup_fd, address] : connections_) ::close(dup_fd);
  connections_.clear();
  per_address_.clear();
}

void Listener::Loop() {
  epoll_event events[64];
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_fd_) return;
      if (connections_.count(fd) != 0) {
        Closed(fd);
      } else {
        Accept(fd);
      }
    }
  }
}

void Listener::Accept(int listen_fd) {
  for (;;) {
    sockaddr_storage peer;
    socklen_t length = sizeof(peer);
    const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // Out of descriptors (other than the connections', which are reserved): the queue
      // waits rather than the loop spinning on it.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        ::usleep(10000);
      }
      return;  // EAGAIN: all taken
    }
    std::string address = PeerAddress(peer, length);
    absl::string_view refused;
    if (open_.load() >= options_.max_connections) {
      refused = kMaxConnections;
    } else if (options_.max_connections_per_address != 0 &&
               per_address_[address] >= options_.max_connections_per_address) {
      refused = kMaxConnectionsPerAddress;
    }
    const int dup_fd = refused.empty() ? ::fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    epoll_event hangup{};
    hangup.events = EPOLLRDHUP;  // EPOLLHUP and EPOLLERR come always
    hangup.data.fd = dup_fd;
    if (dup_fd >= 0 && ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, dup_fd, &hangup) != 0) {
      ::close(dup_fd);
      refused = kMaxConnections;  // cannot be watched: not admitted
    } else if (dup_fd < 0 && refused.empty()) {
      refused = kMaxConnections;
    }
    if (!refused.empty()) {
      ::close(fd);
      refused_.fetch_add(1);
      if (per_address_[address] == 0) per_address_.erase(address);
      if (options_.on_refused) options_.on_refused(refused);
      continue;
    }
    const int nodelay = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof(nodelay));
    ++per_address_[address];
    connections_.emplace(dup_fd, std::move(address));
    const size_t open = open_.fetch_add(1) + 1;
    if (options_.on_open) options_.on_open(open);
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters params;
    params.listener_fd = listen_fd;
    params.fd = fd;  // the server owns it from here
    acceptor_->HandleNewConnection(&params);
  }
}

void Listener::Closed(int dup_fd) {
  (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, dup_fd, nullptr);  // before the close: the
  ::close(dup_fd);  // socket may live on in the server's descriptor
  auto it = connections_.find(dup_fd);
  auto count = per_address_.find(it->second);
  if (count != per_address_.end() && --count->second == 0) per_address_.erase(count);
  connections_.erase(it);
  const size_t open = open_.fetch_sub(1) - 1;
  if (options_.on_open) options_.on_open(open);
}

}  // namespace desfired::server
