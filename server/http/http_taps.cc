// POST /v1/taps:parse: the request body (hex lines, binary records or CSV) streamed through
// TapService.ParseTapStream — the same reader as desfirectl (core/tap/input.h), the same
// parser, keys and limits as a gRPC client — and the results streamed back as JSON lines, one
// proto3 JSON TapResult per record (written by desfirectl's encoder), then one line with the
// stream's summary. Two chunks are in flight, and the lines of one chunk go to the socket (by
// the I/O threads) while the next is parsed. An error before the first result is an HTTP error;
// after it, a last line {"error": {...}}.
#include <deque>
#include <istream>
#include <streambuf>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/tap/input.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "google/protobuf/arena.h"
#include "proto/convert/status_convert.h"
#include "proto/convert/tap_convert.h"
#include "proto/convert/tap_encoder.h"
#include "server/http/connection.h"
#include "server/http/http_error.h"
#include "server/http/http_server.h"

namespace desfired::server::http {
namespace {

// The first block of the arena of a chunk's answer (8,192 BASIC results take about 1 MiB).
constexpr size_t kArenaBlock = size_t{1} << 20;

// The request body as a std::streambuf, at most `max` bytes; the first error is kept.
class BodyBuf : public std::streambuf {
 public:
  BodyBuf(Exchange& ex, size_t max) : ex_(ex), max_(max) {}
  const absl::Status& error() const { return error_; }

 protected:
  int_type underflow() override {
    if (!error_.ok()) return traits_type::eof();
    absl::StatusOr<size_t> got = ex_.ReadBody(buf_.get(), kBodyBuffer);
    if (!got.ok()) {
      error_ = got.status();
      return traits_type::eof();
    }
    total_ += *got;
    if (total_ > max_) {
      error_ = BodyTooLarge(max_, "http_max_body_bytes");
      return traits_type::eof();
    }
    if (*got == 0) {
      const int64_t length = ex_.content_length();
      if (length >= 0 && total_ < static_cast<uint64_t>(length)) {
        error_ = BodyTimedOut(total_, length);
      }
      return traits_type::eof();
    }
    setg(buf_.get(), buf_.get(), buf_.get() + *got);
    return traits_type::to_int_type(buf_[0]);
  }

 private:
  Exchange& ex_;
  const size_t max_;
  uint64_t total_ = 0;
  absl::Status error_;
  // Large: each read takes what the socket holds (connection.h), one hand-over for many
  // records.
  static constexpr size_t kBodyBuffer = size_t{1} << 20;
  std::unique_ptr<char[]> buf_ = std::make_unique<char[]>(kBodyBuffer);
};

absl::StatusOr<tap::InputFormat> FormatOf(const Exchange& ex) {
  const std::vector<std::string> formats = QueryValues(ex.query, "format");
  if (!formats.empty()) {
    std::optional<tap::InputFormat> f = tap::ParseInputFormat(formats.back());
    if (!f) {
      return HttpError(absl::StatusCode::kInvalidArgument, "INVALID_ARGUMENT",
                       "format must be hex, binary or csv", {{"field", "format"}});
    }
    return *f;
  }
  if (absl::StrContains(ex.Header("Content-Type").value_or(""), "octet-stream")) {
    return tap::InputFormat::kBinary;
  }
  return tap::InputFormat::kHex;
}

absl::StatusOr<v1::TapResultView> ViewOf(const Exchange& ex) {
  const std::vector<std::string> views = QueryValues(ex.query, "view");
  if (views.empty() || views.back() == "full") return v1::TAP_RESULT_VIEW_FULL;
  if (views.back() == "basic") return v1::TAP_RESULT_VIEW_BASIC;
  return HttpError(absl::StatusCode::kInvalidArgument, "INVALID_ARGUMENT",
                   "view must be full or basic", {{"field", "view"}});
}

// The JSON lines of a chunk's results, written by TapEncoder (proto/convert/tap_encoder.h)
// from the core result each one comes back to: the same bytes as protobuf's printer of the
// message (ProtoJson), without its cost per record. A result that is not a core result (which
// this server does not send) goes through ProtoJson.
class TapResultLines {
 public:
  explicit TapResultLines(v1::TapResultView view) : view_(view) {}
  // Waits for the writes still under way (they use the buffers).
  ~TapResultLines() { (void)Drain(); }

  // Encodes the lines of `response` and queues them on `conn`, in a buffer of their own, while
  // the lines before may still be written; false when a write before has failed (the client
  // is gone or took nothing within the write timeout).
  bool Send(const v1::ParseTapStreamResponse& response, Connection* conn) ABSL_LOCKS_EXCLUDED(mu_) {
    const int i = next_;
    next_ = 1 - next_;
    {
      absl::MutexLock lock(&mu_);
      auto free = [this, i]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !writing_[i] || failed_; };
      mu_.Await(absl::Condition(&free));
      if (failed_) return false;
      writing_[i] = true;
    }
    TextBuffer& buf = bufs_[i];
    buf.clear();
    for (const v1::TapResult& r : response.results()) {
      if (FromProto(r, &raw_, &result_).ok()) {
        encoder_.Json(result_, &buf, view_);
      } else {
        buf.Append(ProtoJson(r));
        buf.Append("\n");
      }
    }
    conn->Enqueue(buf.view(), [this, i](bool ok) {
      absl::MutexLock lock(&mu_);
      writing_[i] = false;
      if (!ok) failed_ = true;
    });
    return true;
  }
  // Waits until the lines queued are written: false when a write failed.
  bool Drain() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto idle = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !writing_[0] && !writing_[1]; };
    mu_.Await(absl::Condition(&idle));
    return !failed_;
  }

 private:
  const v1::TapResultView view_;
  TapEncoder encoder_;
  TextBuffer bufs_[2];
  int next_ = 0;
  Bytes raw_;
  tap::TapResult result_;
  absl::Mutex mu_;
  bool writing_[2] ABSL_GUARDED_BY(mu_) = {false, false};
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
};

// The request side of a ParseTapStream call, on a thread of its own: the in-process transport
// completes a write only when the server reads it, and the server reads the next chunk only
// once its answer to the one before has been read. With the writes here, the handler's thread
// reads that answer (and writes it to the browser) while the server parses the next chunk.
class ChunkWriter {
 public:
  using Stream = grpc::ClientReaderWriter<v1::ParseTapStreamRequest, v1::ParseTapStreamResponse>;

  explicit ChunkWriter(Stream* stream) : stream_(stream), thread_([this] { Run(); }) {}
  // Stop() must have been called, or Close() and the stream ended.
  ~ChunkWriter() { thread_.join(); }

  // Queues `chunk` to be written (the handler keeps at most two unanswered).
  void Push(v1::ParseTapStreamRequest chunk) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(chunk));
  }
  // A chunk to fill: one written before (its records' buffers are reused), or a new one.
  v1::ParseTapStreamRequest Take() ABSL_LOCKS_EXCLUDED(mu_) {
    v1::ParseTapStreamRequest chunk;
    absl::MutexLock lock(&mu_);
    if (!written_.empty()) {
      chunk = std::move(written_.back());
      written_.pop_back();
    }
    return chunk;
  }
  // The last chunk is queued: WritesDone after it.
  void Close() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }
  // Writes nothing more; a write in progress ends when the call is cancelled.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
  }

 private:
  void Run() {
    v1::ParseTapStreamRequest chunk;
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !queue_.empty() || closed_ || stopped_;
        };
        mu_.Await(absl::Condition(&ready));
        if (stopped_) return;
        if (queue_.empty()) break;  // closed
        chunk = std::move(queue_.front());
        queue_.pop_front();
      }
      if (!stream_->Write(chunk)) return;  // the call ended: the reader sees why
      absl::MutexLock lock(&mu_);
      written_.push_back(std::move(chunk));
    }
    stream_->WritesDone();
  }

  Stream* const stream_;
  absl::Mutex mu_;
  std::deque<v1::ParseTapStreamRequest> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ParseTapStreamRequest> written_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: started once the fields are
};

}  // namespace

void HandleTapsParse(HttpServer& server, Exchange& ex) {
  absl::StatusOr<tap::InputFormat> format = FormatOf(ex);
  if (!format.ok()) return ex.Fail(format.status());
  absl::StatusOr<v1::TapResultView> view = ViewOf(ex);
  if (!view.ok()) return ex.Fail(view.status());
  if (ex.content_length() > static_cast<int64_t>(server.options().max_body_bytes)) {
    return ex.Fail(BodyTooLarge(server.options().max_body_bytes, "http_max_body_bytes"));
  }
  BodyBuf body(ex, server.options().max_body_bytes);
  std::istream in(&body);
  std::unique_ptr<tap::TapInputReader> reader = tap::NewTapInputReader(*format, &in);
  auto taps = v1::TapService::NewStub(server.deps().channel);
  std::unique_ptr<grpc::ClientContext> context = CallContext(*ex.caller, absl::InfiniteDuration());
  std::unique_ptr<ChunkWriter::Stream> stream = taps->ParseTapStream(context.get());
  tap::TapInputRecord rec;
  // The answers are parsed into an arena, reset after each: no allocation per result.
  auto block = std::make_unique<char[]>(kArenaBlock);
  google::protobuf::ArenaOptions arena_options;
  arena_options.initial_block = block.get();
  arena_options.initial_block_size = kArenaBlock;
  arena_options.max_block_size = kArenaBlock;
  google::protobuf::Arena arena(arena_options);
  auto* response = google::protobuf::Arena::CreateMessage<v1::ParseTapStreamResponse>(&arena);
  TapResultLines lines(*view);
  // Reads the next chunk of the body into `chunk`: OK at its end too (`more` false).
  bool more = true;
  auto fill = [&](v1::ParseTapStreamRequest* chunk) -> absl::Status {
    chunk->Clear();
    chunk->set_view(*view);
    while (more &&
           static_cast<size_t>(chunk->records_size()) < server.options().tap_chunk_records) {
      absl::StatusOr<bool> next = reader->Next(&rec);
      if (!body.error().ok()) return body.error();
      if (!next.ok()) {
        return HttpError(absl::StatusCode::kInvalidArgument, "INVALID_ARGUMENT",
                         next.status().message(), {{"field", "body"}});
      }
      if (!*next) {
        more = false;
        break;
      }
      v1::TapInput* input = chunk->add_records();
      // An unreadable line travels as an empty record: the parser rejects it at its index.
      if (rec.error.empty()) {
        input->mutable_raw()->assign(reinterpret_cast<const char*>(rec.bytes.data()),
                                     rec.bytes.size());
        if (rec.backend_time) input->mutable_backend_time()->set_seconds(*rec.backend_time);
      }
    }
    return absl::OkStatus();
  };
  bool call_ended = false;  // before its summary: Finish says why
  absl::Status input_error;
  {
    ChunkWriter writer(stream.get());
    auto stop = [&] {
      context->TryCancel();
      writer.Stop();
    };
    // Two chunks unanswered at most: the next one is queued before the answer of the one
    // before is read. The first chunk is sent even when empty: an error of the call is then
    // the HTTP answer.
    v1::ParseTapStreamRequest chunk = writer.Take();
    input_error = fill(&chunk);
    if (!input_error.ok()) {
      stop();
      return ex.Fail(input_error);
    }
    writer.Push(std::move(chunk));
    int unanswered = 1;
    while (unanswered > 0) {
      if (more && input_error.ok()) {
        chunk = writer.Take();
        input_error = fill(&chunk);
        if (input_error.ok() && chunk.records_size() > 0) {
          writer.Push(std::move(chunk));
          ++unanswered;
        }
      }
      if (!stream->Read(response)) {
        call_ended = true;
        break;
      }
      --unanswered;
      if (!ex.started()) ex.StartStream(200, "application/x-ndjson");
      if (!lines.Send(*response, ex.conn())) return stop();  // the browser is gone
      arena.Reset();
      response = google::protobuf::Arena::CreateMessage<v1::ParseTapStreamResponse>(&arena);
    }
    // The answers of every chunk sent are written; a bad body ends the call.
    if (call_ended || !input_error.ok()) {
      stop();
    } else {
      writer.Close();
    }
  }  // the writer has ended
  if (!call_ended && input_error.ok() && !stream->Read(response)) call_ended = true;
  absl::Status error = input_error;
  if (call_ended) {
    context->TryCancel();
    error = FromGrpcStatus(stream->Finish());
  }
  // An error before the first result is the HTTP answer; after it, the last line.
  if (!error.ok()) {
    if (!ex.started()) return ex.Fail(error);
    ex.Write(absl::StrCat("{\"error\":", ErrorJson(error), "}\n"));
    return;
  }
  response->clear_results();
  ex.Write(absl::StrCat(ProtoJson(*response), "\n"));
  (void)stream->Finish();
}

}  // namespace desfired::server::http
