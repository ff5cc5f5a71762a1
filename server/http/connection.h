// Connection: one accepted TCP connection of the HTTP API (internal to server/http), over
// Boost.Beast and Boost.Asio (TLS through asio's OpenSSL stream when a TLS context is given):
// the TLS handshake, request heads (several with keep-alive), the bodies in pieces, raw answer
// bytes, and the close. Every operation is bounded in time — the handshake, the head and each
// wait for body bytes by `request_timeout` (the head of a later request by the idle timeout
// given), each write by `write_timeout` — so a client that stalls is cut off.
//
//   auto conn = Connection::Create(std::move(socket), tls_context, options);
//   if (conn->Handshake().ok() && conn->ReadHead().ok()) { ... Exchange ex(conn.get()); }
//   conn->Close();
//
// The I/O runs asynchronously on the socket's strand (the server's I/O threads); the calls
// below block the calling thread (the request's handler thread) until their operation ends,
// except Enqueue. Writes go through one queue per connection, in order: Write waits for its
// bytes (and those queued before them), Enqueue does not (an event stream's frames are written
// by the I/O threads, no thread per stream waking for each).
//
// Thread-compatible for the blocking calls (one handler thread); Enqueue and Cancel() from any
// thread.
#ifndef DESFIRED_SERVER_HTTP_CONNECTION_H_
#define DESFIRED_SERVER_HTTP_CONNECTION_H_

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace desfired::server::http {

class Connection {
 public:
  struct Options {
    absl::Duration request_timeout = absl::Seconds(10);
    absl::Duration write_timeout = absl::Seconds(10);
    size_t max_head_bytes = 16384;
  };

  // `tls`: null for plain HTTP; else it must outlive the connection.
  static std::shared_ptr<Connection> Create(boost::asio::ip::tcp::socket socket,
                                            boost::asio::ssl::context* tls, Options options);
  ~Connection();

  bool tls() const;
  // The client's IP address ("127.0.0.1", "::1").
  const std::string& remote_address() const;

  // The TLS handshake (OK at once without TLS). An error when the client is not speaking TLS,
  // fails the certificate check, or does not finish within request_timeout.
  absl::Status Handshake();
  // Reads the next request head, waiting up to `timeout` for its first byte and the rest
  // (default: request_timeout). DEADLINE_EXCEEDED (or UNAVAILABLE when the connection failed):
  // nothing can be answered; INVALID_ARGUMENT: a malformed or too large head, to be answered.
  absl::Status ReadHead(std::optional<absl::Duration> timeout = std::nullopt);

  // The parts of the head (after ReadHead).
  std::string method() const;
  // The request target as sent, split at its '?' (neither decoded).
  std::string path() const;
  std::string query() const;
  std::optional<std::string> Header(absl::string_view name) const;
  // The Content-Length, or -1 when the body is chunked or has none.
  int64_t content_length() const;
  // The request may be followed by another on this connection: its body has been read to the
  // end, the client did not ask to close (HTTP/1.1, or 1.0 with keep-alive) and nothing failed.
  bool reusable() const;

  // Up to `n` body bytes into `buf`: the count, 0 at the body's end. DEADLINE_EXCEEDED when no
  // byte comes within request_timeout, UNAVAILABLE when the connection fails or the body is
  // malformed. Answers "Expect: 100-continue" before the first read.
  absl::StatusOr<size_t> ReadBody(char* buf, size_t n);
  // Writes all of `data` (the parts in order); false when the client is gone or a write did
  // not end within write_timeout.
  bool Write(absl::string_view data);
  bool Write(std::initializer_list<absl::string_view> parts);
  // Queues `data` to be written after what is queued before, and returns at once (any thread).
  // `written` (may be empty) runs on an I/O thread once the bytes are written (true) or the
  // connection has failed (false; every later write fails too). `data` stays alive until then.
  void Enqueue(std::shared_ptr<const std::string> data, std::function<void(bool ok)> written);
  // The same for bytes the caller keeps valid until `written` has run.
  void Enqueue(absl::string_view data, std::function<void(bool ok)> written);

  // Ends the connection: TLS close_notify, then a lingering close (the client's unread request
  // bytes are drained for a moment, so that the answer is not lost to a reset).
  void Close();
  // Makes the pending operation and all later ones fail at once (any thread).
  void Cancel();

 private:
  struct Impl;
  explicit Connection(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;  // shared with the operations in flight
};

}  // namespace desfired::server::http

#endif  // DESFIRED_SERVER_HTTP_CONNECTION_H_
