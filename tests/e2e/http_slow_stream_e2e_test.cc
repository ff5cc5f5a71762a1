// A browser that stops reading its event stream (GET /v1/events) is cut off by desfired, as a
// gRPC watcher that stops reading is (watch_e2e_test), while another browser keeps receiving:
// the desfired binary over a sandboxed pcscd with desfire-sim's transit card, heartbeats every
// 100 µs (--http_heartbeat) so that the stopped client's socket buffers (some 300 KB of kernel
// memory) fill within seconds, and a write timeout of 1 s (--watch_write_timeout, which bounds the
// HTTP writes too). The stopped client is a raw socket with a small receive buffer and segment size
// that never reads until the server has given up on it; the reading client is libcurl. Skipped when
// not root (the sandbox needs namespaces).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/http_client.h"
#include "tests/testing/http_port.h"

namespace desfired {
namespace {

constexpr absl::Duration kSlack = absl::Seconds(30);

// A connection to 127.0.0.1:`port` that holds little unread data (receive buffer and segment
// size at their minimum), with `request` sent; -1 on failure.
int StalledClient(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int small = 1;  // the kernel's minimum
  const int mss = 536;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ::setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads `fd` until the server closes it (true) or `wait` passes (false).
bool ReadsToTheEnd(int fd, absl::Duration wait) {
  const absl::Time deadline = absl::Now() + wait;
  char buf[65536];
  while (absl::Now() < deadline) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if (::recv(fd, buf, sizeof buf, 0) <= 0) return true;
  }
  return false;
}

class HttpSlowStreamE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
    server_ = testing::StartTransitDesfired(
        *sandbox_,
        {"--http_listen=127.0.0.1:0", "--http_heartbeat=100us", "--watch_write_timeout=1s"});
    ASSERT_NE(server_, nullptr);
    http_port_ = testing::HttpPortOf(server_->err());
    ASSERT_GT(http_port_, 0) << server_->err();
    ASSERT_TRUE(sandbox_->WaitForCard(0, true, kSlack).ok());
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::unique_ptr<testing::LoopbackDesfired> server_;
  int http_port_ = 0;
};

TEST_F(HttpSlowStreamE2eTest, StoppedBrowserIsCutOffWhileAnotherKeepsReceiving) {
  // The reading browser: every piece of its stream, until told to stop.
  absl::Mutex mu;
  std::string text;  // guarded by mu
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    testing::HttpStream({.url = absl::StrCat("http://127.0.0.1:", http_port_, "/v1/events"),
                         .timeout = absl::Minutes(2)},
                        [&](absl::string_view piece) {
                          absl::MutexLock lock(&mu);
                          text.append(piece.data(), piece.size());
                          return !stop.load();
                        });
  });
  auto received = [&](absl::string_view what) {
    absl::MutexLock lock(&mu);
    return absl::StrContains(text, what);
  };

  // The stopped browser: it asks for the stream and never reads.
  const int stalled = StalledClient(
      http_port_, "GET /v1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
  ASSERT_GE(stalled, 0);

  // desfired gives up on it: its in-process WatchCards call ends (cancelled by the HTTP side
  // once a write has taken nothing for 1 s), and the connection is closed.
  std::vector<std::string> ended;
  for (const absl::Time deadline = absl::Now() + kSlack; ended.empty() && absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(50))) {
    ended = testing::LinesWith(server_->err(), {"\"method\":\"WatchCards\"", "\"code\":"});
  }
  ASSERT_EQ(ended.size(), 1u) << server_->err();
  EXPECT_TRUE(ReadsToTheEnd(stalled, kSlack)) << "the stopped browser's stream is still open";
  ::close(stalled);

  // The reading browser was not affected: it has its snapshot and heartbeats, and gets the
  // next card event.
  EXPECT_TRUE(received("\"snapshot\""));
  EXPECT_TRUE(received(": heartbeat"));
  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
  for (const absl::Time deadline = absl::Now() + kSlack;
       !received("CARD_REMOVED") && absl::Now() < deadline;) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(received("CARD_REMOVED")) << "the reading browser missed the card event";
  stop = true;
  reader.join();
}

}  // namespace
}  // namespace desfired
