#include "server/tap_service.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_format.h"
#include "proto/convert/tap_convert.h"
#include "server/status_mapping.h"

namespace desfired::server {
namespace {

std::optional<int64_t> BackendTime(const v1::TapInput& input) {
  if (!input.has_backend_time()) return std::nullopt;
  return input.backend_time().seconds();
}

absl::Status CheckBatch(int size, size_t max_batch) {
  if (static_cast<size_t>(size) > max_batch) {
    return InvalidFieldError(
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
    pipeline.Process(index++, ByteSpan(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()),
                     BackendTime(input), &result);
    ToProto(result, results->Add());
  }
}

}  // namespace

void TapServiceImpl::Done(absl::string_view method, grpc::CallbackServerContext* context,
                          absl::Time start, grpc::StatusCode code) const {
  if (!hooks_.on_call_done) return;
  const std::string caller = hooks_.caller ? hooks_.caller(context) : context->peer();
  hooks_.on_call_done(method, caller, code, absl::Now() - start);
}

grpc::ServerUnaryReactor* TapServiceImpl::ParseTaps(grpc::CallbackServerContext* context,
                                                    const v1::ParseTapsRequest* request,
                                                    v1::ParseTapsResponse* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = CheckBatch(request->records_size(), options_.max_batch);
  if (status.ok()) {
    absl::StatusOr<std::unique_ptr<tap::TapPipeline>> pipeline =
        tap::TapPipeline::Create(options_.pipeline);
    status = pipeline.status();
    if (status.ok()) {
      ParseInto(**pipeline, 0, request->records(), response->mutable_results());
      ToProto((*pipeline)->summary(), response->mutable_summary());
    }
  }
  const grpc::Status grpc_status = ToGrpcStatus(status);
  Done("ParseTaps", context, start, grpc_status.error_code());
  reactor->Finish(grpc_status);
  return reactor;
}

// One chunk in, its results out, then the next read: the client's pace, bounded memory.
class TapServiceImpl::StreamReactor final
    : public grpc::ServerBidiReactor<v1::ParseTapStreamRequest, v1::ParseTapStreamResponse> {
 public:
  StreamReactor(const TapServiceImpl& service, grpc::CallbackServerContext* context)
      : service_(service), context_(context), start_(absl::Now()) {
    absl::StatusOr<std::unique_ptr<tap::TapPipeline>> pipeline =
        tap::TapPipeline::Create(service_.options_.pipeline);
    if (!pipeline.ok()) {
      End(pipeline.status());
      return;
    }
    pipeline_ = *std::move(pipeline);
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed: the summary goes last.
      out_.Clear();
      out_.set_records_processed(processed_);
      ToProto(pipeline_->summary(), out_.mutable_summary());
      last_ = true;
      StartWrite(&out_);
      return;
    }
    absl::Status status = CheckBatch(in_.records_size(), service_.options_.max_batch);
    if (!status.ok()) {
      End(status);
      return;
    }
    out_.Clear();
    ParseInto(*pipeline_, processed_, in_.records(), out_.mutable_results());
    processed_ += static_cast<uint64_t>(in_.records_size());
    out_.set_records_processed(processed_);
    StartWrite(&out_);
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
    StartRead(&in_);
  }

  void OnDone() override { delete this; }

 private:
  void End(const absl::Status& status) {
    const grpc::Status grpc_status = ToGrpcStatus(status);
    service_.Done("ParseTapStream", context_, start_, grpc_status.error_code());
    Finish(grpc_status);
  }

  const TapServiceImpl& service_;
  grpc::CallbackServerContext* const context_;
  const absl::Time start_;
  std::unique_ptr<tap::TapPipeline> pipeline_;
  v1::ParseTapStreamRequest in_;
  v1::ParseTapStreamResponse out_;
  uint64_t processed_ = 0;
  bool last_ = false;
};

grpc::ServerBidiReactor<v1::ParseTapStreamRequest, v1::ParseTapStreamResponse>*
TapServiceImpl::ParseTapStream(grpc::CallbackServerContext* context) {
  return new StreamReactor(*this, context);
}

}  // namespace desfired::server
