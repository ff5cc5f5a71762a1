// POST /v1/taps:parse: the request body (hex lines, binary records or CSV) streamed through
// TapService.ParseTapStream — the same reader as desfirectl (core/tap/input.h), the same
// parser, keys and limits as a gRPC client — and the results streamed back as JSON lines, one
// proto3 JSON TapResult per record, then one line with the stream's summary. An error before
// the first result is an HTTP error; after it, a last line {"error": {...}}.
#include <istream>
#include <streambuf>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/tap/input.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "proto/convert/status_convert.h"
#include "server/http/http_error.h"
#include "server/http/http_server.h"

namespace desfired::server::http {
namespace {

// The request body as a std::streambuf, at most `max` bytes; the first error is kept.
class BodyBuf : public std::streambuf {
 public:
  BodyBuf(Exchange& ex, size_t max) : ex_(ex), max_(max) {}
  const absl::Status& error() const { return error_; }

 protected:
  int_type underflow() override {
    if (!error_.ok()) return traits_type::eof();
    absl::StatusOr<size_t> got = ex_.ReadBody(buf_, sizeof buf_);
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
    setg(buf_, buf_, buf_ + *got);
    return traits_type::to_int_type(buf_[0]);
  }

 private:
  Exchange& ex_;
  const size_t max_;
  uint64_t total_ = 0;
  absl::Status error_;
  char buf_[64 * 1024];
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
  auto stream = taps->ParseTapStream(context.get());
  tap::TapInputRecord rec;
  v1::ParseTapStreamRequest chunk;
  v1::ParseTapStreamResponse response;
  std::string out;
  // The end of the answer: `status` as the HTTP error, or as the last line once streaming.
  auto end = [&](const absl::Status& status) {
    context->TryCancel();
    if (!ex.started()) return ex.Fail(status);
    ex.Write(absl::StrCat("{\"error\":", ErrorJson(status), "}\n"));
  };
  bool more = true;
  while (more) {
    chunk.Clear();
    chunk.set_view(*view);
    while (static_cast<size_t>(chunk.records_size()) < server.options().tap_chunk_records) {
      absl::StatusOr<bool> next = reader->Next(&rec);
      if (!body.error().ok()) return end(body.error());
      if (!next.ok()) {
        return end(HttpError(absl::StatusCode::kInvalidArgument, "INVALID_ARGUMENT",
                             next.status().message(), {{"field", "body"}}));
      }
      if (!*next) {
        more = false;
        break;
      }
      v1::TapInput* input = chunk.add_records();
      // An unreadable line travels as an empty record: the parser rejects it at its index.
      if (rec.error.empty()) {
        input->set_raw(std::string(rec.bytes.begin(), rec.bytes.end()));
        if (rec.backend_time) input->mutable_backend_time()->set_seconds(*rec.backend_time);
      }
    }
    if (chunk.records_size() == 0 && ex.started()) break;
    if (!stream->Write(chunk) || !stream->Read(&response)) {
      return end(FromGrpcStatus(stream->Finish()));
    }
    if (!ex.started()) ex.StartStream(200, "application/x-ndjson");
    out.clear();
    for (const v1::TapResult& result : response.results()) {
      absl::StrAppend(&out, ProtoJson(result), "\n");
    }
    if (!ex.Write(out)) {
      context->TryCancel();
      return;
    }
  }
  stream->WritesDone();
  if (!stream->Read(&response)) return end(FromGrpcStatus(stream->Finish()));
  response.clear_results();
  ex.Write(absl::StrCat(ProtoJson(response), "\n"));
  (void)stream->Finish();
}

}  // namespace desfired::server::http
