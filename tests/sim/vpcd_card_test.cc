// The vpcd front end against a fake reader (a TCP listener in the test): length framing,
// the control bytes, APDUs, the control socket, tear and reconnect. No pcscd needed.
#include "sim/vpcd/vpcd_card.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "sim/card/card.h"
#include "tests/sim/sim_test_util.h"

namespace desfired::sim {
namespace {

using testing::H;

constexpr int kTimeoutMs = 2000;

class FakeReader {
 public:
  FakeReader() {
    listen_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(listen_, 1), 0);
    socklen_t len = sizeof(a);
    getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~FakeReader() {
    if (conn_ >= 0) close(conn_);
    close(listen_);
  }
  uint16_t port() const { return port_; }
  bool Accept() {
    pollfd p{listen_, POLLIN, 0};
    if (poll(&p, 1, kTimeoutMs) != 1) return false;
    if (conn_ >= 0) close(conn_);
    conn_ = accept(listen_, nullptr, nullptr);
    return conn_ >= 0;
  }
  // Sends one framed message and reads one framed answer; nullopt on close or time-out.
  std::optional<Bytes> Exchange(const Bytes& msg) {
    Bytes out = {static_cast<uint8_t>(msg.size() >> 8), static_cast<uint8_t>(msg.size())};
    out.insert(out.end(), msg.begin(), msg.end());
    if (send(conn_, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
      return std::nullopt;
    }
    uint8_t len[2];
    if (!Read(len, 2)) return std::nullopt;
    Bytes r(size_t{len[0]} << 8 | len[1]);
    if (!Read(r.data(), r.size())) return std::nullopt;
    return r;
  }
  bool Read(uint8_t* p, size_t n) {
    size_t got = 0;
    while (got < n) {
      pollfd pf{conn_, POLLIN, 0};
      if (poll(&pf, 1, kTimeoutMs) != 1) return false;
      const ssize_t r = recv(conn_, p + got, n - got, 0);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }

 private:
  int listen_ = -1;
  int conn_ = -1;
  uint16_t port_ = 0;
};

std::string Control(const std::string& path, const std::string& cmd) {
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
  for (int i = 0; i < 400 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0; ++i) {
    usleep(5000);  // the loop thread creates the socket right after start
  }
  const std::string line = cmd + "\n";
  send(fd, line.data(), line.size(), MSG_NOSIGNAL);
  std::string reply;
  char buf[128];
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, kTimeoutMs) == 1) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  while (!reply.empty() && reply.back() == '\n') reply.pop_back();
  return reply;
}

TEST(VpcdCardTest, ServesAtrApdusControlAndTear) {
  FakeReader reader;
  Card card(CardState::Blank());
  VpcdOptions opt;
  opt.port = reader.port();
  opt.control_socket = ::testing::TempDir() + "/vpcd_card_test.ctl";
  VpcdCard server(card, opt);
  std::thread loop([&] { EXPECT_TRUE(server.Run().ok()); });

  ASSERT_TRUE(reader.Accept());
  EXPECT_EQ(HexEncode(*reader.Exchange({0x04})), "3b8180018080");
  EXPECT_EQ(HexEncode(*reader.Exchange(H("9060000000"))), "04010101001a0591af");
  EXPECT_EQ(HexEncode(*reader.Exchange(H("FFCA000000"))), "04063f726334809000");
  EXPECT_EQ(Control(opt.control_socket, "status"), "ok inserted=1 connected=1 apdus=2 hung=0");

  // Tear on the next APDU: no answer, the connection closes, the card stays out.
  EXPECT_EQ(Control(opt.control_socket, "tear 1"), "ok");
  EXPECT_FALSE(reader.Exchange(H("9060000000")).has_value());
  EXPECT_EQ(Control(opt.control_socket, "status"), "ok inserted=0 connected=0 apdus=3 hung=0");
  EXPECT_EQ(Control(opt.control_socket, "insert"), "ok");
  ASSERT_TRUE(reader.Accept());
  EXPECT_EQ(HexEncode(*reader.Exchange({0x04})), "3b8180018080");
  EXPECT_EQ(Control(opt.control_socket, "bogus"),
            "error unknown command (insert, remove, save, status, quit, tear N, hang N, delay US)");
  EXPECT_EQ(Control(opt.control_socket, "quit"), "ok");
  loop.join();
}

}  // namespace
}  // namespace desfired::sim
