// RawHttp2: a client connection that speaks just enough HTTP/2 to open gRPC calls and then
// misbehave on purpose, as a hostile client would: grant no flow-control window, never send
// the preface, open more streams than allowed. No HPACK decoding: frames are seen by type,
// flags, stream and raw payload.
//
//   absl::StatusOr<std::unique_ptr<RawHttp2>> c = RawHttp2::Connect(port);
//   ASSERT_TRUE(c.ok() && (*c)->Handshake(/*initial_window=*/0).ok());
//   ASSERT_TRUE((*c)->StartCall(1, "/desfired.v1.CardService/WatchCards", "").ok());
//   absl::StatusOr<RawHttp2::Frame> rst = (*c)->WaitFor(
//       [](const RawHttp2::Frame& f) { return f.type == RawHttp2::kRstStream; },
//       absl::Seconds(10));
//
// Next/WaitFor answer the server's SETTINGS (ACK) and, unless told otherwise, its PINGs, the
// way a live client does; they never send WINDOW_UPDATE.
//
// Thread-compatible.
#ifndef DESFIRED_TESTS_TESTING_RAW_HTTP2_H_
#define DESFIRED_TESTS_TESTING_RAW_HTTP2_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace desfired::testing {

class RawHttp2 {
 public:
  // Frame types (RFC 9113, 6).
  enum FrameType : uint8_t {
    kData,
    kHeaders,
    kRstStream = 3,
    kSettings,
    kPing = 6,
    kGoaway,
    kWindowUpdate
  };

  struct Frame {
    uint8_t type = 0;
    uint8_t flags = 0;
    uint32_t stream = 0;
    std::string payload;
    // The value of `id` in a SETTINGS frame, or -1 when absent.
    int64_t setting(uint16_t id) const;
  };

  // A TCP connection to 127.0.0.1:`port` from the IPv4 address `from` (a loopback address:
  // 127.0.0.2 is another client to the server), nothing sent yet.
  static absl::StatusOr<std::unique_ptr<RawHttp2>> Connect(int port,
                                                           absl::string_view from = "127.0.0.1");
  ~RawHttp2();
  RawHttp2(const RawHttp2&) = delete;
  RawHttp2& operator=(const RawHttp2&) = delete;

  // The client preface and a SETTINGS frame with SETTINGS_INITIAL_WINDOW_SIZE = initial_window.
  absl::Status Handshake(uint32_t initial_window = 65535);
  // A gRPC call on `stream` (odd, increasing): HEADERS for POST `path`, then one DATA frame
  // with `message` in gRPC's length-prefixed framing, ending the client's side.
  absl::Status StartCall(uint32_t stream, absl::string_view path, absl::string_view message);
  // HEADERS for POST `path` on `stream`, the message to follow by SendData.
  absl::Status OpenCall(uint32_t stream, absl::string_view path);
  // `bytes` on `stream` as DATA frames of at most 16 KiB, within the flow-control windows the
  // server granted (reading its frames meanwhile): UNAVAILABLE when the server reset the
  // stream or closed the connection, DEADLINE_EXCEEDED when it granted no window in `timeout`.
  absl::Status SendData(uint32_t stream, absl::string_view bytes, bool end_stream,
                        absl::Duration timeout);
  // The first 5 bytes of a gRPC message of `length` bytes (uncompressed).
  static std::string MessagePrefix(uint32_t length);

  // The next frame within `timeout`: DEADLINE_EXCEEDED when none came, UNAVAILABLE once the
  // server has closed the connection.
  absl::StatusOr<Frame> Next(absl::Duration timeout);
  // Frames until one satisfies `match` (returned), within `timeout`; Next's errors.
  absl::StatusOr<Frame> WaitFor(const std::function<bool(const Frame&)>& match,
                                absl::Duration timeout);
  // Reads until the server closes the connection: true when it did within `timeout`.
  bool WaitClosed(absl::Duration timeout);

  // Whether Next answers PINGs (default true). A client that does not looks dead to keepalive.
  void set_answer_pings(bool answer) { answer_pings_ = answer; }

 private:
  explicit RawHttp2(int fd) : fd_(fd) {}
  absl::Status Send(absl::string_view bytes);
  absl::Status SendFrame(uint8_t type, uint8_t flags, uint32_t stream, absl::string_view payload);

  // Window bookkeeping from a frame the server sent.
  void Track(const Frame& f);

  int fd_;
  std::string in_;  // bytes read, not yet a whole frame
  // Flow control (RFC 9113, 6.9): what the server lets this client send.
  int64_t connection_window_ = 65535;
  int64_t initial_stream_window_ = 65535;
  std::map<uint32_t, int64_t> stream_windows_;
  std::set<uint32_t> reset_streams_;
  bool closed_ = false;
  bool answer_pings_ = true;
};

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_RAW_HTTP2_H_
