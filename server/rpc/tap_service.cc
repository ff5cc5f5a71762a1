#include "server/rpc/tap_service.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/apdu/error_metadata.h"
#include "google/protobuf/arena.h"
#include "proto/convert/status_convert.h"
#include "proto/convert/tap_convert.h"
#include "server/rpc/request_limits.h"

namespace desfired::server {
namespace {

// What one chunk added to a stream's summary: the counts and warnings (the unknown terminal
// and product maps stay out of it).
tap::TapSummary Delta(const tap::TapSummary& now, const tap::TapSummary& before) {
  tap::TapSummary d;
  d.total = now.total - before.total;
  d.valid = now.valid - before.valid;
  d.flagged = now.flagged - before.flagged;
  d.rejected = now.rejected - before.rejected;
  for (size_t i = 0; i < d.warnings.size(); ++i)
    d.warnings[i] = now.warnings[i] - before.warnings[i];
  return d;
}

std::optional<int64_t> BackendTime(const v1::TapInput& input) {
  if (!input.has_backend_time()) return std::nullopt;
  return input.backend_time().seconds();
}

absl::Status CheckBatch(int size, size_t max_batch) {
  if (static_cast<size_t>(size) > max_batch) {
    return apdu::InvalidFieldError(
        "records", absl::StrFormat("%d records in one message; at most %d", size, max_batch));
  }
  return absl::OkStatus();
}

// Parses `records` (numbered from `first_index`) into `results`.
void ParseInto(tap::TapPipeline& pipeline, uint64_t first_index,
               const google::protobuf::RepeatedPtrField<v1::TapInput>& records,
               google::protobuf::RepeatedPtrField<v1::TapResult>* results) {
  tap::TapResult result;
  results->Reserve(records.size());
  uint64_t index = first_index;
  for (const v1::TapInput& input : records) {
    const std::string& raw = input.raw();
    pipeline.Process(index++, AsBytes(raw), BackendTime(input), &result);
    ToProto(result, results->Add());
  }
}

// Arenas for batches of records: blocks grow to 64 KiB, below glibc's mmap threshold, so they
// are reused from the heap rather than mapped and unmapped per call.
google::protobuf::ArenaOptions BatchArenaOptions() {
  google::protobuf::ArenaOptions options;
  options.max_block_size = 64 * 1024;
  return options;
}

// ParseTaps' request and response on one arena per call: the messages and strings of a batch
// come from a few large blocks and go with them when the call ends.
class ArenaAllocator final
    : public grpc::MessageAllocator<v1::ParseTapsRequest, v1::ParseTapsResponse> {
 public:
  grpc::MessageHolder<v1::ParseTapsRequest, v1::ParseTapsResponse>* AllocateMessages() override {
    return new Holder();
  }

 private:
  class Holder final : public grpc::MessageHolder<v1::ParseTapsRequest, v1::ParseTapsResponse> {
   public:
    Holder() : arena_(BatchArenaOptions()) {
      set_request(google::protobuf::Arena::CreateMessage<v1::ParseTapsRequest>(&arena_));
      set_response(google::protobuf::Arena::CreateMessage<v1::ParseTapsResponse>(&arena_));
    }
    void Release() override { delete this; }

   private:
    google::protobuf::Arena arena_;
  };
};

}  // namespace

TapServiceImpl::TapServiceImpl(Options options, ServerHooks hooks)
    : options_(std::move(options)),
      hooks_(std::move(hooks)),
      allocator_(std::make_unique<ArenaAllocator>()) {
  SetMessageAllocatorFor_ParseTaps(allocator_.get());
}

void TapServiceImpl::Done(absl::string_view method, grpc::CallbackServerContext* context,
                          absl::Time start, const absl::Status& status) const {
  if (!hooks_.on_call_done) return;
  CallInfo info;
  info.service = "TapService";
  info.method = method;
  info.caller = hooks_.caller ? hooks_.caller(context) : context->peer();
  info.code = static_cast<grpc::StatusCode>(status.code());
  info.reason = ReasonOf(status);
  info.latency = absl::Now() - start;
  info.context = context;
  hooks_.on_call_done(info);
}

absl::StatusOr<std::unique_ptr<tap::TapPipeline>> TapServiceImpl::NewPipeline(
    std::shared_ptr<const keys::KeyStore>& keys) const {
  tap::TapPipelineConfig config = options_.pipeline;
  if (options_.keys != nullptr) {
    keys = options_.keys->Current();
    config.keys = keys.get();
  }
  return tap::TapPipeline::Create(config);
}

absl::Status TapServiceImpl::Authorize(grpc::CallbackServerContext* context,
                                       absl::string_view method) const {
  return hooks_.authorize ? hooks_.authorize(context, method) : absl::OkStatus();
}

void TapServiceImpl::Parsed(const tap::TapSummary& summary) const {
  if (hooks_.on_taps_parsed) hooks_.on_taps_parsed(summary);
}

grpc::ServerUnaryReactor* TapServiceImpl::ParseTaps(grpc::CallbackServerContext* context,
                                                    const v1::ParseTapsRequest* request,
                                                    v1::ParseTapsResponse* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = Authorize(context, "ParseTaps");
  if (status.ok()) status = CheckBatch(request->records_size(), options_.max_batch);
  if (status.ok()) status = CheckLimits(*request);
  if (status.ok()) {
    std::shared_ptr<const keys::KeyStore> keys;
    absl::StatusOr<std::unique_ptr<tap::TapPipeline>> pipeline = NewPipeline(keys);
    status = pipeline.status();
    if (status.ok()) {
      ParseInto(**pipeline, 0, request->records(), response->mutable_results());
      ToProto((*pipeline)->summary(), response->mutable_summary());
      Parsed((*pipeline)->summary());
    }
  }
  const grpc::Status grpc_status = ToGrpcStatus(status);
  Done("ParseTaps", context, start, status);
  reactor->Finish(grpc_status);
  return reactor;
}

// One chunk in, its results out, then the next read: the client's pace, bounded memory.
// The chunk read and the results written live on an arena each, reset for the next chunk
// (one read or one write is in flight at a time, never both).
class TapServiceImpl::StreamReactor final
    : public grpc::ServerBidiReactor<v1::ParseTapStreamRequest, v1::ParseTapStreamResponse> {
 public:
  StreamReactor(const TapServiceImpl& service, grpc::CallbackServerContext* context)
      : service_(service),
        context_(context),
        start_(absl::Now()),
        in_arena_(BatchArenaOptions()),
        out_arena_(BatchArenaOptions()) {
    if (absl::Status allowed = service_.Authorize(context, "ParseTapStream"); !allowed.ok()) {
      End(allowed);
      return;
    }
    absl::StatusOr<std::unique_ptr<tap::TapPipeline>> pipeline = service_.NewPipeline(keys_);
    if (!pipeline.ok()) {
      End(pipeline.status());
      return;
    }
    pipeline_ = *std::move(pipeline);
    ReadNext();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed: the summary goes last.
      v1::ParseTapStreamResponse* out = NewResponse();
      out->set_records_processed(processed_);
      ToProto(pipeline_->summary(), out->mutable_summary());
      last_ = true;
      StartWrite(out);
      return;
    }
    absl::Status status = CheckBatch(in_->records_size(), service_.options_.max_batch);
    if (status.ok()) status = CheckLimits(*in_);
    if (!status.ok()) {
      End(status);
      return;
    }
    v1::ParseTapStreamResponse* out = NewResponse();
    const tap::TapSummary before = Delta(pipeline_->summary(), tap::TapSummary());  // counts
    ParseInto(*pipeline_, processed_, in_->records(), out->mutable_results());
    service_.Parsed(Delta(pipeline_->summary(), before));
    processed_ += static_cast<uint64_t>(in_->records_size());
    out->set_records_processed(processed_);
    StartWrite(out);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      End(absl::CancelledError("the client went away"));
      return;
    }
    if (last_) {
      End(absl::OkStatus());
      return;
    }
    ReadNext();
  }

  void OnDone() override {
    // Ended by gRPC without End (not expected: a read or a write is always in flight, and it
    // fails on cancellation): still reported exactly once.
    if (!ended_) service_.Done("ParseTapStream", context_, start_, absl::CancelledError(""));
    delete this;
  }

 private:
  // The previous chunk is done with: its arena is reset for the next one.
  void ReadNext() {
    in_arena_.Reset();
    in_ = google::protobuf::Arena::CreateMessage<v1::ParseTapStreamRequest>(&in_arena_);
    StartRead(in_);
  }
  // A response on a reset arena (the previous write has completed).
  v1::ParseTapStreamResponse* NewResponse() {
    out_arena_.Reset();
    return google::protobuf::Arena::CreateMessage<v1::ParseTapStreamResponse>(&out_arena_);
  }

  void End(const absl::Status& status) {
    if (ended_) return;
    ended_ = true;
    const grpc::Status grpc_status = ToGrpcStatus(status);
    service_.Done("ParseTapStream", context_, start_, status);
    Finish(grpc_status);
  }

  const TapServiceImpl& service_;
  grpc::CallbackServerContext* const context_;
  const absl::Time start_;
  std::shared_ptr<const keys::KeyStore> keys_;  // the pipeline's keys, for the stream's life
  std::unique_ptr<tap::TapPipeline> pipeline_;
  google::protobuf::Arena in_arena_;
  google::protobuf::Arena out_arena_;
  v1::ParseTapStreamRequest* in_ = nullptr;  // on in_arena_
  uint64_t processed_ = 0;
  bool last_ = false;
  bool ended_ = false;  // End ran: the call is reported and finished
};

grpc::ServerBidiReactor<v1::ParseTapStreamRequest, v1::ParseTapStreamResponse>*
TapServiceImpl::ParseTapStream(grpc::CallbackServerContext* context) {
  return new StreamReactor(*this, context);
}

}  // namespace desfired::server
