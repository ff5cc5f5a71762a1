// A loopback TCP port nobody listens on now (the kernel's choice for an ephemeral bind), for
// the servers the tests start (PostgreSQL, nats-server). Another process may take it before
// the server binds it: callers try again when the server does not start.
//
//   const int port = testing::FreeLoopbackPort();   // 0 when none could be had
//
// Thread-safe.
#ifndef DESFIRED_TESTS_TESTING_FREE_PORT_H_
#define DESFIRED_TESTS_TESTING_FREE_PORT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace desfired::testing {

inline int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_FREE_PORT_H_
