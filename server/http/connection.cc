#include "server/http/connection.h"

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace desfired::server::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

// The lingering close: how long and how much of the client's unread request is drained.
constexpr absl::Duration kLinger = absl::Seconds(1);
constexpr size_t kMaxDrainBytes = size_t{1} << 20;

std::chrono::nanoseconds Chrono(absl::Duration d) {
  return std::chrono::nanoseconds(absl::ToInt64Nanoseconds(d));
}

bool IsHttpError(const error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
}

}  // namespace

struct Connection::Impl : std::enable_shared_from_this<Impl> {
  using Plain = net::ip::tcp::socket;
  using Tls = net::ssl::stream<net::ip::tcp::socket>;
  using Done = std::function<void(error_code, size_t)>;
  struct Outcome {
    error_code ec;
    size_t n = 0;
  };

  Impl(net::ip::tcp::socket socket, net::ssl::context* context, Options o)
      : options(o), executor(socket.get_executor()), timer(executor), write_timer(executor) {
    error_code ec;
    const net::ip::tcp::endpoint peer = socket.remote_endpoint(ec);
    if (!ec) address = peer.address().to_string();
    // Event frames and answers go out as soon as they are written (no Nagle delay).
    (void)socket.set_option(net::ip::tcp::no_delay(true), ec);
    if (context != nullptr) {
      stream.emplace<Tls>(std::move(socket), *context);
    } else {
      stream.emplace<Plain>(std::move(socket));
    }
  }

  net::ip::tcp::socket& Socket() {
    if (Tls* t = std::get_if<Tls>(&stream)) return t->next_layer();
    return std::get<Plain>(stream);
  }
  template <typename F>
  void WithStream(F&& f) {
    if (Tls* t = std::get_if<Tls>(&stream)) return f(*t);
    f(std::get<Plain>(stream));
  }

  // Runs `start(done)` on the strand and waits for `done`. When the operation has not ended
  // `timeout` after its start it is cancelled and ends with beast::error::timeout; the socket
  // stays open (a timed-out read can still be answered).
  template <typename Start>
  Outcome Await(absl::Duration timeout, Start start) {
    auto promise = std::make_shared<std::promise<Outcome>>();
    std::future<Outcome> result = promise->get_future();
    net::dispatch(executor, [self = shared_from_this(), timeout, promise,
                             start = std::move(start)]() mutable {
      if (self->cancelled) return promise->set_value({net::error::operation_aborted, 0});
      const uint64_t id = ++self->op;
      self->op_done = false;
      self->timed_out = false;
      self->timer.expires_after(Chrono(timeout));
      self->timer.async_wait([self, id](error_code ec) {
        if (ec || self->op_done || id != self->op) return;  // cancelled, or a later operation
        self->timed_out = true;
        error_code ignored;
        self->Socket().cancel(ignored);
      });
      start(Done([self, promise](error_code ec, size_t n) {
        self->op_done = true;
        self->timer.cancel();
        if (self->timed_out && ec == net::error::operation_aborted) ec = beast::error::timeout;
        promise->set_value({ec, n});
      }));
    });
    return result.get();
  }

  // Reads body bytes into the parser's buffer until it is full, the body ends, or no more
  // bytes wait on the socket (one read at least): fewer hand-overs to the handler's thread.
  void ReadGathered(Done done) {
    WithStream([&](auto& s) {
      bhttp::async_read_some(
          s, buffer, *parser,
          [self = shared_from_this(), done = std::move(done)](error_code ec, size_t n) mutable {
            if (ec == bhttp::error::need_buffer) ec = {};
            error_code ignored;
            if (!ec && !self->parser->is_done() && self->parser->get().body().size > 0 &&
                self->Socket().available(ignored) > 0) {
              return self->ReadGathered(std::move(done));
            }
            done(ec, n);
          });
    });
  }

  // The write queue (on the strand): one write at a time, each bounded by write_timeout.
  struct Pending {
    std::vector<net::const_buffer> buffers;
    std::function<void(bool)> written;
  };
  void Queue(Pending p) {
    writes.push_back(std::move(p));
    NextWrite();
  }
  void NextWrite() {
    if (writing) return;
    while (!writes.empty() && (write_failed || cancelled)) {
      write_failed = true;
      Pending p = std::move(writes.front());
      writes.pop_front();
      if (p.written) p.written(false);
    }
    if (writes.empty()) return;
    writing = true;
    const uint64_t id = ++write_id;
    write_timer.expires_after(Chrono(options.write_timeout));
    write_timer.async_wait([self = shared_from_this(), id](error_code ec) {
      if (ec || !self->writing || id != self->write_id) return;
      self->write_failed = true;  // the client took nothing in time: cut it off
      error_code ignored;
      self->Socket().cancel(ignored);
    });
    WithStream([&](auto& s) {
      net::async_write(s, writes.front().buffers,
                       [self = shared_from_this()](error_code ec, size_t) {
                         self->writing = false;
                         self->write_timer.cancel();
                         if (ec) self->write_failed = true;
                         Pending p = std::move(self->writes.front());
                         self->writes.pop_front();
                         if (p.written) p.written(!ec);
                         self->NextWrite();
                       });
    });
  }

  const Options options;
  const net::any_io_executor executor;  // the socket's strand
  // On the strand: the deadline of the operation under way, which one it is, and how it went.
  net::steady_timer timer;
  uint64_t op = 0;
  bool op_done = false;
  bool timed_out = false;
  std::string address;
  std::variant<std::monostate, Plain, Tls> stream;
  beast::flat_buffer buffer;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> parser;
  bool continue_answered = false;
  bool failed = false;
  bool cancelled = false;  // on the strand
  // The write queue, on the strand.
  net::steady_timer write_timer;
  std::deque<Pending> writes;
  uint64_t write_id = 0;
  bool writing = false;
  bool write_failed = false;
};

Connection::Connection(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;

std::shared_ptr<Connection> Connection::Create(net::ip::tcp::socket socket, net::ssl::context* tls,
                                               Options options) {
  return std::shared_ptr<Connection>(
      new Connection(std::make_shared<Impl>(std::move(socket), tls, options)));
}

bool Connection::tls() const { return std::holds_alternative<Impl::Tls>(impl_->stream); }
const std::string& Connection::remote_address() const { return impl_->address; }

absl::Status Connection::Handshake() {
  if (!tls()) return absl::OkStatus();
  Impl* impl = impl_.get();
  const Impl::Outcome o = impl->Await(impl->options.request_timeout, [impl](Impl::Done done) {
    std::get<Impl::Tls>(impl->stream)
        .async_handshake(net::ssl::stream_base::server,
                         [done = std::move(done)](error_code ec) { done(ec, 0); });
  });
  if (!o.ec) return absl::OkStatus();
  impl->failed = true;
  if (o.ec == beast::error::timeout) {
    return absl::DeadlineExceededError("the TLS handshake did not end in time");
  }
  return absl::UnavailableError(absl::StrCat("TLS handshake failed: ", o.ec.message()));
}

absl::Status Connection::ReadHead(std::optional<absl::Duration> timeout) {
  Impl* impl = impl_.get();
  impl->parser.emplace();
  impl->parser->header_limit(static_cast<uint32_t>(impl->options.max_head_bytes));
  impl->parser->body_limit(boost::none);  // the handlers bound the bodies they read
  impl->continue_answered = false;
  const absl::Duration wait = timeout.value_or(impl->options.request_timeout);
  const Impl::Outcome o = impl->Await(wait, [impl](Impl::Done done) {
    impl->WithStream([&](auto& s) {
      bhttp::async_read_header(s, impl->buffer, *impl->parser, std::move(done));
    });
  });
  if (!o.ec) return absl::OkStatus();
  impl->failed = o.ec == beast::error::timeout || !IsHttpError(o.ec) ||
                 o.ec == bhttp::error::end_of_stream || o.ec == bhttp::error::partial_message;
  if (o.ec == bhttp::error::header_limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request head is larger than ", impl->options.max_head_bytes, " bytes"));
  }
  if (!impl->failed) {
    return absl::InvalidArgumentError(absl::StrCat("malformed request head: ", o.ec.message()));
  }
  if (o.ec == beast::error::timeout) {
    return absl::DeadlineExceededError("the request head did not arrive in time");
  }
  return absl::UnavailableError(absl::StrCat("no request head: ", o.ec.message()));
}

std::string Connection::method() const {
  const beast::string_view m = impl_->parser->get().method_string();
  return std::string(m.data(), m.size());
}

std::string Connection::path() const {
  const beast::string_view t = impl_->parser->get().target();
  return std::string(t.substr(0, t.find('?')));
}

std::string Connection::query() const {
  const beast::string_view t = impl_->parser->get().target();
  const size_t q = t.find('?');
  return q == beast::string_view::npos ? std::string() : std::string(t.substr(q + 1));
}

std::optional<std::string> Connection::Header(absl::string_view name) const {
  const auto& head = impl_->parser->get();
  auto it = head.find(beast::string_view(name.data(), name.size()));
  if (it == head.end()) return std::nullopt;
  return std::string(it->value());
}

int64_t Connection::content_length() const {
  const boost::optional<uint64_t> length = impl_->parser->content_length();
  return length ? static_cast<int64_t>(*length) : -1;
}

bool Connection::reusable() const {
  return !impl_->failed && impl_->parser && impl_->parser->is_done() && impl_->parser->keep_alive();
}

absl::StatusOr<size_t> Connection::ReadBody(char* buf, size_t n) {
  Impl* impl = impl_.get();
  if (!impl->continue_answered) {
    impl->continue_answered = true;
    if (absl::EqualsIgnoreCase(Header("Expect").value_or(""), "100-continue") &&
        !impl->parser->is_done() && !Write("HTTP/1.1 100 Continue\r\n\r\n")) {
      return absl::UnavailableError("the connection failed");
    }
  }
  while (!impl->parser->is_done() && n > 0) {
    bhttp::buffer_body::value_type& body = impl->parser->get().body();
    body.data = buf;
    body.size = n;
    body.more = true;
    const Impl::Outcome o = impl->Await(impl->options.request_timeout,
                                        [impl](Impl::Done done) { impl->ReadGathered(done); });
    if (o.ec) {
      if (o.ec == beast::error::timeout) {  // the socket is still open: the answer can go
        return absl::DeadlineExceededError("no body bytes within the request timeout");
      }
      impl->failed = true;
      return absl::UnavailableError(absl::StrCat("the body could not be read: ", o.ec.message()));
    }
    const size_t got = n - impl->parser->get().body().size;
    if (got > 0) return got;
  }
  return 0;
}

bool Connection::Write(absl::string_view data) { return Write({data}); }

bool Connection::Write(std::initializer_list<absl::string_view> parts) {
  Impl* impl = impl_.get();
  if (impl->failed) return false;
  Impl::Pending p;
  for (absl::string_view part : parts) p.buffers.emplace_back(part.data(), part.size());
  auto promise = std::make_shared<std::promise<bool>>();
  std::future<bool> result = promise->get_future();
  p.written = [promise](bool ok) { promise->set_value(ok); };
  net::dispatch(impl->executor,
                [self = impl_, p = std::move(p)]() mutable { self->Queue(std::move(p)); });
  const bool ok = result.get();
  if (!ok) impl->failed = true;
  return ok;
}

void Connection::Enqueue(std::shared_ptr<const std::string> data,
                         std::function<void(bool ok)> written) {
  const absl::string_view bytes = *data;
  Enqueue(bytes, [data = std::move(data), written = std::move(written)](bool ok) {
    if (written) written(ok);
  });
}

void Connection::Enqueue(absl::string_view data, std::function<void(bool ok)> written) {
  Impl::Pending p;
  p.buffers.emplace_back(data.data(), data.size());
  p.written = std::move(written);
  net::post(impl_->executor,
            [self = impl_, p = std::move(p)]() mutable { self->Queue(std::move(p)); });
}

void Connection::Close() {
  Impl* impl = impl_.get();
  (void)Write("");  // what is queued goes first
  if (!impl->failed && tls()) {
    (void)impl->Await(kLinger, [impl](Impl::Done done) {
      std::get<Impl::Tls>(impl->stream).async_shutdown([done = std::move(done)](error_code ec) {
        done(ec, 0);
      });
    });
  }
  // Half-close, then read what the client still sends until it closes (or for a moment).
  size_t drained = 0;
  const absl::Time until = absl::Now() + kLinger;
  auto scratch = std::make_shared<std::array<char, 4096>>();
  bool shut = false;
  while (drained < kMaxDrainBytes && absl::Now() < until) {
    const Impl::Outcome o =
        impl->Await(until - absl::Now(), [impl, scratch, &shut](Impl::Done done) {
          if (!shut) {
            error_code ignored;
            impl->Socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
            shut = true;
          }
          impl->Socket().async_read_some(net::buffer(*scratch), std::move(done));
        });
    if (o.ec) break;
    drained += o.n;
  }
  impl->failed = true;
  (void)impl->Await(kLinger, [impl](Impl::Done done) {
    error_code ignored;
    impl->Socket().close(ignored);
    done({}, 0);
  });
}

void Connection::Cancel() {
  net::post(impl_->executor, [self = impl_] {
    self->cancelled = true;
    error_code ignored;
    self->Socket().cancel(ignored);
  });
}

}  // namespace desfired::server::http
