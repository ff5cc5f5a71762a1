#include "sim/vpcd/vpcd_card.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "sim/image/image.h"

namespace desfired::sim {
namespace {

// vpcd control payloads (1-byte messages).
enum class VpcdControl : uint8_t {
  kPowerOff = 0x00,
  kPowerOn = 0x01,
  kReset = 0x02,
  kGetAtr = 0x04,
};

constexpr size_t kLengthPrefix = 2;
constexpr size_t kMaxControlLine = 256;

void QuickAck(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

bool RecvAll(int fd, uint8_t* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = recv(fd, buf + got, n - got, MSG_WAITALL);
    if (r == 0) return false;
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    got += static_cast<size_t>(r);
  }
  return true;
}

bool SendAll(int fd, const uint8_t* buf, size_t n) {
  size_t sent = 0;
  while (sent < n) {
    const ssize_t r = send(fd, buf + sent, n - sent, MSG_NOSIGNAL);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    sent += static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

VpcdCard::VpcdCard(Card& card, VpcdOptions options)
    : card_(card), opt_(std::move(options)), inserted_(opt_.start_inserted) {}

VpcdCard::~VpcdCard() {
  if (sock_ >= 0) close(sock_);
  if (control_ >= 0) {
    close(control_);
    unlink(opt_.control_socket.c_str());
  }
  if (signal_fd_ >= 0) close(signal_fd_);
}

void VpcdCard::Connect() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = absl::StrCat(opt_.port);
  next_connect_ = std::chrono::steady_clock::now() + opt_.reconnect_interval;
  if (getaddrinfo(opt_.host.c_str(), port.c_str(), &hints, &res) != 0) return;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      QuickAck(fd);
      sock_ = fd;
      break;
    }
    close(fd);
  }
  freeaddrinfo(res);
  if (sock_ >= 0) {
    card_.PowerOff();  // a card entering the field starts fresh
    std::fprintf(stderr, "desfire-sim: connected to %s:%u\n", opt_.host.c_str(), opt_.port);
  }
}

void VpcdCard::Disconnect(const char* why) {
  if (sock_ < 0) return;
  close(sock_);
  sock_ = -1;
  hung_ = false;
  card_.PowerOff();  // rolls back an open transaction
  next_connect_ = std::chrono::steady_clock::now() + opt_.reconnect_interval;
  std::fprintf(stderr, "desfire-sim: disconnected (%s)\n", why);
}

bool VpcdCard::ServeOne() {
  uint8_t prefix[kLengthPrefix];
  if (!RecvAll(sock_, prefix, kLengthPrefix)) return false;
  QuickAck(sock_);
  const size_t len = size_t{prefix[0]} << 8 | prefix[1];
  Bytes msg(len);
  if (len > 0 && !RecvAll(sock_, msg.data(), len)) return false;
  QuickAck(sock_);
  Bytes reply;
  if (len == 0) return true;  // nothing to answer; never answer with an empty frame
  if (len == 1) {
    switch (static_cast<VpcdControl>(msg[0])) {
      case VpcdControl::kPowerOff:
      case VpcdControl::kPowerOn:
      case VpcdControl::kReset:
        card_.Reset();
        return true;
      case VpcdControl::kGetAtr:
        reply.assign(card_.atr().begin(), card_.atr().end());
        break;
      default:
        return true;
    }
  } else {
    ++apdus_;
    if (opt_.tear_after_apdus && apdus_ >= *opt_.tear_after_apdus) {
      opt_.tear_after_apdus.reset();
      inserted_ = false;
      Disconnect("tear");
      return true;
    }
    if (opt_.hang_after_apdus && apdus_ >= *opt_.hang_after_apdus) {
      opt_.hang_after_apdus.reset();
      hung_ = true;
      std::fprintf(stderr, "desfire-sim: hanging\n");
      return true;
    }
    if (opt_.apdu_delay.count() > 0) std::this_thread::sleep_for(opt_.apdu_delay);
    if (opt_.fail_uid_reads > 0 && msg[0] == 0xFF && msg[1] == 0xCA) {
      --opt_.fail_uid_reads;
      reply = {0x6F, 0x00};
    } else {
      reply = card_.Transmit(msg);
    }
    const uint8_t ins = msg[0] == 0x90 ? msg[1] : msg[0];
    if (opt_.lose_answer_ins && *opt_.lose_answer_ins == ins) {
      opt_.lose_answer_ins.reset();
      inserted_ = false;
      Disconnect("answer lost");
      return true;
    }
    if (opt_.verbose) {
      std::fprintf(stderr, "desfire-sim: > %s\ndesfire-sim: < %s\n", HexEncode(msg).c_str(),
                   HexEncode(reply).c_str());
    }
  }
  // Length and payload in one send: one segment per answer.
  Bytes out;
  out.reserve(kLengthPrefix + reply.size());
  out.push_back(static_cast<uint8_t>(reply.size() >> 8));
  out.push_back(static_cast<uint8_t>(reply.size()));
  out.insert(out.end(), reply.begin(), reply.end());
  return SendAll(sock_, out.data(), out.size());
}

absl::Status VpcdCard::Save() {
  if (opt_.save_path.empty()) return absl::OkStatus();
  absl::Status s = SaveImage(card_.state(), opt_.save_path);
  std::fprintf(stderr, "desfire-sim: save %s: %s\n", opt_.save_path.c_str(),
               s.ok() ? "ok" : std::string(s.message()).c_str());
  return s;
}

std::string VpcdCard::Command(const std::string& line) {
  std::istringstream in(line);
  std::string cmd, arg;
  in >> cmd >> arg;
  uint64_t n = 0;
  const bool has_n = !arg.empty() && absl::SimpleAtoi(arg, &n);
  if (cmd == "insert") {
    inserted_ = true;
    next_connect_ = std::chrono::steady_clock::now();
    return "ok";
  }
  if (cmd == "remove") {
    inserted_ = false;
    Disconnect("remove");
    return "ok";
  }
  if (cmd == "save") {
    if (opt_.save_path.empty()) return "error no save path (--save or --save-to)";
    absl::Status s = Save();
    return s.ok() ? "ok" : absl::StrCat("error ", s.message());
  }
  if (cmd == "status") {
    return absl::StrCat("ok inserted=", inserted_ ? 1 : 0, " connected=", sock_ >= 0 ? 1 : 0,
                        " apdus=", apdus_, " hung=", hung_ ? 1 : 0);
  }
  if (cmd == "quit") {
    quit_ = true;
    return "ok";
  }
  if (cmd == "tear" && has_n) {
    opt_.tear_after_apdus = apdus_ + n;
    return "ok";
  }
  if (cmd == "hang" && has_n) {
    opt_.hang_after_apdus = apdus_ + n;
    return "ok";
  }
  if (cmd == "lose") {
    uint32_t ins = 0;
    if (arg.size() != 2 || !absl::SimpleHexAtoi(arg, &ins)) {
      return "error lose takes an instruction byte in hex (e.g. lose C7)";
    }
    opt_.lose_answer_ins = static_cast<uint8_t>(ins);
    return "ok";
  }
  if (cmd == "failuid" && has_n) {
    opt_.fail_uid_reads = n;
    return "ok";
  }
  if (cmd == "delay" && has_n) {
    opt_.apdu_delay = std::chrono::microseconds(n);
    return "ok";
  }
  if (cmd == "lrp" && (arg == "on" || arg == "off")) {
    card_.set_lrp_mode(arg == "on");  // as --lrp; the next authentication follows it
    return "ok";
  }
  return "error unknown command (insert, remove, save, status, quit, tear N, hang N, lose INS, "
         "delay US, failuid N, lrp on|off)";
}

void VpcdCard::HandleControlClient(int fd) {
  std::string line;
  char c;
  // The client writes one line; a short wait bounds a client that never finishes it.
  pollfd p{fd, POLLIN, 0};
  while (line.size() < kMaxControlLine) {
    if (poll(&p, 1, 1000) <= 0) break;
    const ssize_t r = recv(fd, &c, 1, 0);
    if (r <= 0 || c == '\n') break;
    line.push_back(c);
  }
  const std::string reply = Command(line) + "\n";
  SendAll(fd, reinterpret_cast<const uint8_t*>(reply.data()), reply.size());
  close(fd);
}

absl::Status VpcdCard::Run() {
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGINT}) sigaddset(&mask, s);
  if (pthread_sigmask(SIG_BLOCK, &mask, nullptr) != 0) {
    return absl::InternalError("cannot block signals");
  }
  signal_fd_ = signalfd(-1, &mask, SFD_CLOEXEC);
  if (signal_fd_ < 0) return absl::InternalError(absl::StrCat("signalfd: ", strerror(errno)));

  if (!opt_.control_socket.empty()) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (opt_.control_socket.size() >= sizeof(addr.sun_path)) {
      return absl::InvalidArgumentError("control socket path too long");
    }
    std::strcpy(addr.sun_path, opt_.control_socket.c_str());
    unlink(addr.sun_path);
    control_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (control_ < 0 || bind(control_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(control_, 4) != 0) {
      return absl::InternalError(
          absl::StrCat("control socket ", opt_.control_socket, ": ", strerror(errno)));
    }
  }

  while (!quit_) {
    const auto now = std::chrono::steady_clock::now();
    if (inserted_ && sock_ < 0 && now >= next_connect_) Connect();
    std::vector<pollfd> fds;
    fds.push_back({signal_fd_, POLLIN, 0});
    if (control_ >= 0) fds.push_back({control_, POLLIN, 0});
    const bool watch_card = sock_ >= 0 && !hung_;
    if (watch_card) fds.push_back({sock_, POLLIN, 0});
    int timeout_ms = -1;
    if (inserted_ && sock_ < 0) {
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          next_connect_ - std::chrono::steady_clock::now());
      timeout_ms = static_cast<int>(std::max<int64_t>(0, wait.count()));
    }
    const int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("poll: ", strerror(errno)));
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si;
      if (read(signal_fd_, &si, sizeof(si)) == sizeof(si)) {
        switch (static_cast<int>(si.ssi_signo)) {
          case SIGUSR1:
            Command("remove");
            break;
          case SIGUSR2:
            Command("insert");
            break;
          case SIGHUP:
            (void)Save();
            break;
          default:
            quit_ = true;
        }
      }
    }
    size_t i = 1;
    if (control_ >= 0) {
      if (fds[i].revents & POLLIN) {
        const int client = accept4(control_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) HandleControlClient(client);
      }
      ++i;
    }
    if (watch_card && sock_ >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
      if (!ServeOne()) Disconnect("reader closed the connection");
    }
  }
  if (sock_ >= 0) Disconnect("exit");
  return Save();
}

}  // namespace desfired::sim
