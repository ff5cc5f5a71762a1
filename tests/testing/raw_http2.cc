#include "tests/testing/raw_http2.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace desfired::testing {
namespace {

constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kFlagAck = 0x1;
constexpr uint8_t kFlagEndStream = 0x1;
constexpr uint8_t kFlagEndHeaders = 0x4;
constexpr uint16_t kSettingsInitialWindowSize = 0x4;

void PutBE(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetBE(absl::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(in[at + i]);
  return v;
}

// HPACK (RFC 7541): an integer with an N-bit prefix, and a literal header field without
// indexing with a new name, no Huffman coding.
void PutHpackInt(std::string& out, uint8_t first, int prefix_bits, size_t value) {
  const size_t max = (1u << prefix_bits) - 1;
  if (value < max) {
    out.push_back(static_cast<char>(first | value));
    return;
  }
  out.push_back(static_cast<char>(first | max));
  value -= max;
  while (value >= 128) {
    out.push_back(static_cast<char>((value % 128) + 128));
    value /= 128;
  }
  out.push_back(static_cast<char>(value));
}

void PutHeader(std::string& out, absl::string_view name, absl::string_view value) {
  out.push_back(0x00);
  PutHpackInt(out, 0x00, 7, name.size());
  out.append(name.data(), name.size());
  PutHpackInt(out, 0x00, 7, value.size());
  out.append(value.data(), value.size());
}

}  // namespace

int64_t RawHttp2::Frame::setting(uint16_t id) const {
  if (type != kSettings) return -1;
  for (size_t at = 0; at + 6 <= payload.size(); at += 6) {
    if (GetBE(payload, at, 2) == id) return static_cast<int64_t>(GetBE(payload, at + 2, 4));
  }
  return -1;
}

absl::StatusOr<std::unique_ptr<RawHttp2>> RawHttp2::Connect(int port, absl::string_view from) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in source{};
  source.sin_family = AF_INET;
  if (::inet_pton(AF_INET, std::string(from).c_str(), &source.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof(source)) != 0) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("cannot connect from ", from));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(err)));
  }
  return std::unique_ptr<RawHttp2>(new RawHttp2(fd));
}

RawHttp2::~RawHttp2() { ::close(fd_); }

absl::Status RawHttp2::Send(absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status RawHttp2::SendFrame(uint8_t type, uint8_t flags, uint32_t stream,
                                 absl::string_view payload) {
  std::string frame;
  PutBE(frame, payload.size(), 3);
  frame.push_back(static_cast<char>(type));
  frame.push_back(static_cast<char>(flags));
  PutBE(frame, stream & 0x7fffffffu, 4);
  frame.append(payload.data(), payload.size());
  return Send(frame);
}

absl::Status RawHttp2::Handshake(uint32_t initial_window) {
  if (absl::Status s = Send(kPreface); !s.ok()) return s;
  std::string settings;
  PutBE(settings, kSettingsInitialWindowSize, 2);
  PutBE(settings, initial_window, 4);
  return SendFrame(kSettings, 0, 0, settings);
}

absl::Status RawHttp2::StartCall(uint32_t stream, absl::string_view path,
                                 absl::string_view message) {
  if (absl::Status s = OpenCall(stream, path); !s.ok()) return s;
  std::string data = MessagePrefix(static_cast<uint32_t>(message.size()));
  data.append(message.data(), message.size());
  return SendFrame(kData, kFlagEndStream, stream, data);
}

std::string RawHttp2::MessagePrefix(uint32_t length) {
  std::string prefix(1, '\0');  // not compressed
  PutBE(prefix, length, 4);
  return prefix;
}

absl::Status RawHttp2::SendData(uint32_t stream, absl::string_view bytes, bool end_stream,
                                absl::Duration timeout) {
  constexpr size_t kMaxFrame = 16384;  // SETTINGS_MAX_FRAME_SIZE's initial value
  const absl::Time until = absl::Now() + timeout;
  stream_windows_.try_emplace(stream, initial_stream_window_);
  do {
    if (reset_streams_.count(stream) != 0) return absl::UnavailableError("stream reset");
    const int64_t window = std::min(connection_window_, stream_windows_[stream]);
    if (window <= 0 && !(bytes.empty() && end_stream)) {
      absl::StatusOr<Frame> f = Next(until - absl::Now());  // Next tracks the windows
      if (!f.ok()) return f.status();
      continue;
    }
    const size_t n =
        std::min({bytes.size(), kMaxFrame, static_cast<size_t>(std::max<int64_t>(window, 0))});
    const bool last = end_stream && n == bytes.size();
    if (absl::Status s = SendFrame(kData, last ? kFlagEndStream : 0, stream, bytes.substr(0, n));
        !s.ok()) {
      return s;
    }
    connection_window_ -= static_cast<int64_t>(n);
    stream_windows_[stream] -= static_cast<int64_t>(n);
    bytes.remove_prefix(n);
    if (last) return absl::OkStatus();
  } while (!bytes.empty());
  return absl::OkStatus();
}

void RawHttp2::Track(const Frame& f) {
  if (f.type == kWindowUpdate && f.payload.size() == 4) {
    const int64_t increment = static_cast<int64_t>(GetBE(f.payload, 0, 4) & 0x7fffffffu);
    if (f.stream == 0) {
      connection_window_ += increment;
    } else {
      stream_windows_.try_emplace(f.stream, initial_stream_window_);
      stream_windows_[f.stream] += increment;
    }
  } else if (f.type == kSettings && !(f.flags & kFlagAck)) {
    const int64_t initial = f.setting(kSettingsInitialWindowSize);
    if (initial >= 0) {
      for (auto& [stream, window] : stream_windows_) window += initial - initial_stream_window_;
      initial_stream_window_ = initial;
    }
  } else if (f.type == kRstStream) {
    reset_streams_.insert(f.stream);
  }
}

absl::Status RawHttp2::OpenCall(uint32_t stream, absl::string_view path) {
  std::string headers;
  PutHeader(headers, ":method", "POST");
  PutHeader(headers, ":scheme", "http");
  PutHeader(headers, ":path", path);
  PutHeader(headers, ":authority", "127.0.0.1");
  PutHeader(headers, "content-type", "application/grpc");
  PutHeader(headers, "te", "trailers");
  stream_windows_.try_emplace(stream, initial_stream_window_);
  return SendFrame(kHeaders, kFlagEndHeaders, stream, headers);
}

absl::StatusOr<RawHttp2::Frame> RawHttp2::Next(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (true) {
    if (in_.size() >= 9) {
      const size_t length = GetBE(in_, 0, 3);
      if (in_.size() >= 9 + length) {
        Frame f;
        f.type = static_cast<uint8_t>(in_[3]);
        f.flags = static_cast<uint8_t>(in_[4]);
        f.stream = static_cast<uint32_t>(GetBE(in_, 5, 4) & 0x7fffffffu);
        f.payload = in_.substr(9, length);
        in_.erase(0, 9 + length);
        Track(f);
        absl::Status answered = absl::OkStatus();
        if (f.type == kSettings && !(f.flags & kFlagAck)) {
          answered = SendFrame(kSettings, kFlagAck, 0, "");
        } else if (f.type == kPing && !(f.flags & kFlagAck) && answer_pings_) {
          answered = SendFrame(kPing, kFlagAck, 0, f.payload);
        }
        if (!answered.ok() && !closed_) return answered;
        return f;
      }
    }
    if (closed_) return absl::UnavailableError("the server closed the connection");
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("no frame in time");
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) return absl::InternalError("poll failed");
    if (ready <= 0) continue;
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      closed_ = true;
      continue;
    }
    in_.append(buf, static_cast<size_t>(n));
  }
}

absl::StatusOr<RawHttp2::Frame> RawHttp2::WaitFor(const std::function<bool(const Frame&)>& match,
                                                  absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<Frame> f = Next(until - absl::Now());
    if (!f.ok() || match(*f)) return f;
  }
}

bool RawHttp2::WaitClosed(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<Frame> f = Next(until - absl::Now());
    if (!f.ok()) return absl::IsUnavailable(f.status());
  }
}

}  // namespace desfired::testing
