// TapService.VerifySun and VerifySunStream (tap_service.h): SUN messages verified with the key
// store current when a batch (or chunk) starts (core/tap/sun_verifier.h).
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/util/status_macros.h"
#include "proto/convert/status_convert.h"
#include "proto/convert/sun_convert.h"
#include "server/rpc/request_limits.h"
#include "server/rpc/tap_limits.h"
#include "server/rpc/tap_reactors.h"
#include "server/rpc/tap_service.h"

namespace desfired::server {
namespace {

// The request's checks and the key names: INVALID_ARGUMENT naming the field, KEY_NOT_FOUND.
absl::Status CheckSunRequest(const v1::VerifySunRequest& r, const keys::KeyStore* store,
                             size_t max_batch) {
  if (r.messages_size() > static_cast<int>(max_batch)) {
    return apdu::InvalidFieldError(
        "messages", absl::StrCat("at most ", max_batch, " per call, got ", r.messages_size()));
  }
  if (r.file_key_name().empty()) {
    return apdu::InvalidFieldError("file_key_name", "the key store's name of K_SDMFileRead");
  }
  if (r.aid() > 0xFFFFFF) return apdu::InvalidFieldError("aid", "at most 24 bits");
  for (const std::string& name : {r.meta_key_name(), r.file_key_name()}) {
    if (!name.empty() && (store == nullptr || store->Find(name) == nullptr)) {
      return apdu::KeyNotFoundError(name);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status TapServiceImpl::VerifySunBatch(const v1::VerifySunRequest& request,
                                            uint64_t first_index, CallHold& hold,
                                            v1::VerifySunResponse* response) const {
  std::shared_ptr<const keys::KeyStore> keys =
      options_.keys != nullptr ? options_.keys->Current() : nullptr;
  DESFIRED_RETURN_IF_ERROR(CheckLimits(request));
  DESFIRED_RETURN_IF_ERROR(CheckSunRequest(request, keys.get(), options_.max_batch));
  DESFIRED_RETURN_IF_ERROR(hold.Charge(
      SunWorkBytes(request.ByteSizeLong(), static_cast<size_t>(request.messages_size()))));
  tap::SunVerifier verifier(*keys,
                            {.meta_key = request.meta_key_name(),
                             .file_key = request.file_key_name(),
                             .aid = request.aid()},
                            options_.sun_counters);
  DESFIRED_RETURN_IF_ERROR(verifier.CheckKeys());
  std::vector<tap::SunInput> inputs;
  inputs.reserve(static_cast<size_t>(request.messages_size()));
  for (const v1::SunMessage& m : request.messages()) {
    inputs.push_back(SunInputFromProto(request.cipher(), m));
  }
  std::vector<tap::SunResult> results(inputs.size());
  verifier.VerifyMany(inputs, absl::MakeSpan(results));  // one batch: counters in input order
  for (size_t i = 0; i < results.size(); ++i) {
    const tap::SunResult& r = results[i];
    SunResultToProto(r, first_index + i, response->add_results());
    switch (r.status) {
      case tap::SunStatus::kValid:
        response->set_valid(response->valid() + 1);
        break;
      case tap::SunStatus::kFlagged:
        response->set_flagged(response->flagged() + 1);
        break;
      case tap::SunStatus::kRejected:
        response->set_rejected(response->rejected() + 1);
        break;
    }
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* TapServiceImpl::VerifySun(grpc::CallbackServerContext* context,
                                                    const v1::VerifySunRequest* request,
                                                    v1::VerifySunResponse* response) {
  const absl::Time start = absl::Now();
  auto* reactor = new UnaryReactor(options_.budget);
  absl::Status status = Authorize(context, "VerifySun");
  if (status.ok()) status = reactor->hold.AddCall(Principal(context));
  if (status.ok()) status = VerifySunBatch(*request, 0, reactor->hold, response);
  if (!status.ok()) response->Clear();
  Done("VerifySun", context, start, status);
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// VerifySunStream in the streams' shape (tap_reactors.h): each chunk verified as a VerifySun
// batch, the stream's counts last.
class TapServiceImpl::SunStreamReactor final
    : public ChunkStream<v1::VerifySunRequest, v1::VerifySunResponse> {
 public:
  SunStreamReactor(const TapServiceImpl& service, grpc::CallbackServerContext* context)
      : ChunkStream(service, context, "VerifySunStream") {
    if (Admit()) ReadNext();
  }

 private:
  void Chunk() override { ChunkDone(VerifyChunk()); }

  absl::Status VerifyChunk() {
    DESFIRED_RETURN_IF_ERROR(service_.VerifySunBatch(in_, next_index_, hold_, &out_));
    next_index_ += static_cast<uint64_t>(in_.messages_size());
    totals_.set_valid(totals_.valid() + out_.valid());
    totals_.set_flagged(totals_.flagged() + out_.flagged());
    totals_.set_rejected(totals_.rejected() + out_.rejected());
    return absl::OkStatus();
  }

  void Last() override { out_ = totals_; }

  v1::VerifySunResponse totals_;  // counts only
  uint64_t next_index_ = 0;
};

grpc::ServerBidiReactor<v1::VerifySunRequest, v1::VerifySunResponse>*
TapServiceImpl::VerifySunStream(grpc::CallbackServerContext* context) {
  return new SunStreamReactor(*this, context);
}

}  // namespace desfired::server
