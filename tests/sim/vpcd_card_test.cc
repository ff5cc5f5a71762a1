// The vpcd front end against a fake reader (a TCP listener in the test): length framing,
// the control bytes, APDUs, the control socket, tear and reconnect. No pcscd needed.
#include "sim/vpcd/vpcd_card.h"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/crypto/block_cipher.h"
#include "gtest/gtest.h"
#include "sim/card/card.h"
#include "sim/image/image.h"
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
  // Sends one framed message without waiting for an answer.
  bool Send(const Bytes& msg) {
    Bytes out = {static_cast<uint8_t>(msg.size() >> 8), static_cast<uint8_t>(msg.size())};
    out.insert(out.end(), msg.begin(), msg.end());
    return send(conn_, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size());
  }
  // True when the card has written something (or closed) by now.
  bool Readable() {
    pollfd pf{conn_, POLLIN, 0};
    return poll(&pf, 1, 0) == 1;
  }
  // Waits for the card to close the connection, with the time-out: end of stream, or a reset
  // when the card closed with unread bytes (what vpcd sees too).
  bool WaitClosed() {
    uint8_t b;
    pollfd pf{conn_, POLLIN, 0};
    if (poll(&pf, 1, kTimeoutMs) != 1) return false;
    const ssize_t r = recv(conn_, &b, 1, 0);
    return r == 0 || (r < 0 && errno == ECONNRESET);
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

// A blank card served by VpcdCard to a FakeReader on a thread, with a control socket.
struct ServedCard {
  explicit ServedCard(const std::string& control_name)
      : card(CardState::Blank()), opt(Options(reader, control_name)), server(card, opt) {
    loop = std::thread([this] { EXPECT_TRUE(server.Run().ok()); });
  }
  static VpcdOptions Options(const FakeReader& reader, const std::string& control_name) {
    VpcdOptions o;
    o.port = reader.port();
    // Per process: ctest runs of two checkouts on one machine must not share a socket.
    o.control_socket = absl::StrCat(::testing::TempDir(), "/", ::getpid(), "-", control_name);
    return o;
  }
  FakeReader reader;
  Card card;
  VpcdOptions opt;
  VpcdCard server;
  std::thread loop;
};

TEST(VpcdCardTest, ServesAtrApdusControlAndTear) {
  ServedCard served("vpcd_card_test.ctl");
  FakeReader& reader = served.reader;
  const VpcdOptions& opt = served.opt;

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
  // Lose the answer of CreateApplication: the card makes the application, then leaves the
  // field without answering; back in, the application is there.
  EXPECT_EQ(Control(opt.control_socket, "lose CA"), "ok");
  EXPECT_FALSE(reader
                   .Exchange(H("90CA000005010203"
                               "0F0100"))
                   .has_value());
  EXPECT_EQ(Control(opt.control_socket, "status"), "ok inserted=0 connected=0 apdus=4 hung=0");
  EXPECT_EQ(Control(opt.control_socket, "insert"), "ok");
  ASSERT_TRUE(reader.Accept());
  EXPECT_EQ(HexEncode(*reader.Exchange({0x04})), "3b8180018080");
  EXPECT_EQ(HexEncode(*reader.Exchange(H("906A000000"))), "0102039100");
  EXPECT_EQ(Control(opt.control_socket, "lose C"),
            "error lose takes an instruction byte in hex (e.g. lose C7)");
  // Fail the next two UID reads (GET DATA); other commands are answered as ever.
  EXPECT_EQ(Control(opt.control_socket, "failuid 2"), "ok");
  EXPECT_EQ(HexEncode(*reader.Exchange(H("FFCA000000"))), "6f00");
  EXPECT_EQ(HexEncode(*reader.Exchange(H("906A000000"))), "0102039100");
  EXPECT_EQ(HexEncode(*reader.Exchange(H("FFCA000000"))), "6f00");
  EXPECT_EQ(HexEncode(*reader.Exchange(H("FFCA000000"))), "04063f726334809000");
  EXPECT_EQ(Control(opt.control_socket, "lrp on"), "ok");
  EXPECT_EQ(Control(opt.control_socket, "lrp off"), "ok");
  EXPECT_EQ(Control(opt.control_socket, "bogus"),
            "error unknown command (insert, remove, save, status, quit, tear N, hang N, lose "
            "INS, delay US, failuid N, lrp on|off)");
  EXPECT_EQ(Control(opt.control_socket, "quit"), "ok");
  served.loop.join();
}

// Polls the control socket until `status` answers `want` (the loop thread acts on a
// message some time after the test sent it); false after the time-out.
bool WaitForStatus(const std::string& ctl, const std::string& want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Control(ctl, "status") == want) return true;
  }
  return false;
}

// The hang fault at the vpcd level (a hung card must never be used through pcscd in a
// test: pcscd blocks until the card process dies). The N-th APDU is never answered and
// nothing more is read, not even vpcd's GET ATR polls; `remove` ends it, `insert` brings a
// working card back.
TEST(VpcdCardTest, HangNeverAnswersUntilRemoved) {
  ServedCard served("vpcd_hang_test.ctl");
  FakeReader& reader = served.reader;
  const VpcdOptions& opt = served.opt;

  ASSERT_TRUE(reader.Accept());
  EXPECT_EQ(HexEncode(*reader.Exchange(H("906E000000"))), "001f009100");  // FreeMemory
  EXPECT_EQ(Control(opt.control_socket, "hang 2"), "ok");
  EXPECT_EQ(HexEncode(*reader.Exchange(H("906E000000"))), "001f009100");  // 1st: answered
  ASSERT_TRUE(reader.Send(H("9060000000")));                              // 2nd: hangs
  ASSERT_TRUE(WaitForStatus(opt.control_socket, "ok inserted=1 connected=1 apdus=3 hung=1"));
  EXPECT_FALSE(reader.Readable());
  ASSERT_TRUE(reader.Send({0x04}));  // vpcd's presence poll
  EXPECT_EQ(Control(opt.control_socket, "status"), "ok inserted=1 connected=1 apdus=3 hung=1");
  EXPECT_FALSE(reader.Readable());

  EXPECT_EQ(Control(opt.control_socket, "remove"), "ok");
  EXPECT_TRUE(reader.WaitClosed());
  EXPECT_EQ(Control(opt.control_socket, "status"), "ok inserted=0 connected=0 apdus=3 hung=0");
  EXPECT_EQ(Control(opt.control_socket, "insert"), "ok");
  ASSERT_TRUE(reader.Accept());
  EXPECT_EQ(HexEncode(*reader.Exchange({0x04})), "3b8180018080");
  EXPECT_EQ(HexEncode(*reader.Exchange(H("9060000000"))), "04010101001a0591af");
  EXPECT_EQ(Control(opt.control_socket, "quit"), "ok");
  served.loop.join();
}

// `delay US` holds every answer back by at least US microseconds (only a lower bound is
// asserted, so a slow machine cannot make this fail); `delay 0` turns it off again.
TEST(VpcdCardTest, DelayHoldsEveryAnswerBack) {
  ServedCard served("vpcd_delay_test.ctl");
  FakeReader& reader = served.reader;
  const VpcdOptions& opt = served.opt;

  ASSERT_TRUE(reader.Accept());
  EXPECT_EQ(Control(opt.control_socket, "delay 150000"), "ok");
  for (int i = 0; i < 2; ++i) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(HexEncode(*reader.Exchange(H("906E000000"))), "001f009100");  // FreeMemory
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
  }
  EXPECT_EQ(Control(opt.control_socket, "delay 0"), "ok");
  EXPECT_EQ(HexEncode(*reader.Exchange(H("906E000000"))), "001f009100");
  EXPECT_EQ(Control(opt.control_socket, "quit"), "ok");
  served.loop.join();
}

// desfire-sim as a process: `save` writes the committed state, SIGTERM saves and exits 0,
// an uncommitted change is not saved, and a restarted card has the saved balance.
class SimProcess {
 public:
  SimProcess(const std::string& image, uint16_t port, const std::string& ctl,
             const std::vector<std::string>& extra_args = {}) {
    const std::string vpcd = "127.0.0.1:" + std::to_string(port);
    std::vector<std::string> args = {DESFIRE_SIM, "--image", image,       "--save",
                                     "--vpcd",    vpcd,      "--control", ctl};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~SimProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // SIGTERM, then the exit code (-1 when it did not exit within the time-out).
  int Terminate() {
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      pollfd none{-1, 0, 0};
      poll(&none, 1, 5);  // wait a little between checks; the deadline bounds it
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

int32_t SavedValue(const std::string& image) {
  auto state = LoadImage(image);
  EXPECT_TRUE(state.ok()) << state.status();
  if (!state.ok()) return -1;
  Application* app = state->FindApplication(0x0000A1);
  File* f = app ? app->FindFile(1) : nullptr;
  EXPECT_NE(f, nullptr);
  return f ? f->value : -1;
}

TEST(VpcdCardTest, SimSavesOnRequestAndOnSigtermAndRestartKeepsTheValue) {
  const std::string image = ::testing::TempDir() + "/vpcd_save_test.json";
  const std::string ctl = ::testing::TempDir() + "/vpcd_save_test.ctl";
  ASSERT_TRUE(SaveImage(CardState::Blank(), image).ok());
  FakeReader reader;
  {
    SimProcess sim(image, reader.port(), ctl);
    ASSERT_TRUE(reader.Accept());
    // Application 0000A1 (free create), value file 1 (free access, 10, limits 0..1000).
    EXPECT_EQ(HexEncode(*reader.Exchange(H("90CA000005A100000F0100"))), "9100");
    EXPECT_EQ(HexEncode(*reader.Exchange(H("905A000003A1000000"))), "9100");
    EXPECT_EQ(HexEncode(*reader.Exchange(H("90CC0000110100EEEE00000000E80300000A0000000000"))),
              "9100");
    EXPECT_EQ(HexEncode(*reader.Exchange(H("900C000005010500000000"))), "9100");  // +5
    EXPECT_EQ(HexEncode(*reader.Exchange(H("90C7000000"))), "9100");
    EXPECT_EQ(Control(ctl, "save"), "ok");
    EXPECT_EQ(SavedValue(image), 15);
    EXPECT_EQ(HexEncode(*reader.Exchange(H("90DC000005010300000000"))), "9100");  // -3
    EXPECT_EQ(HexEncode(*reader.Exchange(H("90C7000000"))), "9100");
    EXPECT_EQ(HexEncode(*reader.Exchange(H("900C000005016400000000"))), "9100");  // +100, open
    EXPECT_EQ(sim.Terminate(), 0);
  }
  EXPECT_EQ(SavedValue(image), 12);
  {
    SimProcess sim(image, reader.port(), ctl);
    ASSERT_TRUE(reader.Accept());
    EXPECT_EQ(HexEncode(*reader.Exchange(H("905A000003A1000000"))), "9100");
    EXPECT_EQ(HexEncode(*reader.Exchange(H("906C0000010100"))), "0c0000009100");
    EXPECT_EQ(sim.Terminate(), 0);
  }
}

// desfire-sim --fixed-random (for benchmarks): RndB is the given bytes at every
// authentication, so the card's first answer repeats byte for byte.
TEST(VpcdCardTest, SimFixedRandomRepeatsRndB) {
  const std::string image = ::testing::TempDir() + "/vpcd_fixed_random_test.json";
  const std::string ctl = ::testing::TempDir() + "/vpcd_fixed_random_test.ctl";
  ASSERT_TRUE(SaveImage(CardState::Blank(), image).ok());
  FakeReader reader;
  SimProcess sim(image, reader.port(), ctl, {"--fixed-random", "0102030405060708"});
  ASSERT_TRUE(reader.Accept());
  // ISO authentication with the blank card's PICC key (DES 00×8): E_CBC(IV 0)(RndB) ‖ 91 AF.
  const Bytes first = *reader.Exchange(H("901A0000010000"));
  ASSERT_EQ(first.size(), 10u);
  EXPECT_EQ(HexEncode(ByteSpan(first).subspan(8)), "91af");
  EXPECT_EQ(HexEncode(*reader.Exchange(H("901A0000010000"))), HexEncode(first));
  auto des = crypto::BlockCipher::Create(crypto::KeyType::kDes, Bytes(8, 0));
  ASSERT_TRUE(des.ok());
  Bytes rnd_b(first.begin(), first.begin() + 8);
  Bytes iv(8, 0);
  ASSERT_TRUE(des->CbcDecrypt(MutableByteSpan(iv), MutableByteSpan(rnd_b)).ok());
  EXPECT_EQ(HexEncode(rnd_b), "0102030405060708");
  EXPECT_EQ(sim.Terminate(), 0);
}

}  // namespace
}  // namespace desfired::sim
