// TapService.VerifySun (tap_service.h): a batch of SUN messages verified with the key store
// current when the call starts (core/tap/sun_verifier.h).
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/apdu/error_metadata.h"
#include "proto/convert/status_convert.h"
#include "proto/convert/sun_convert.h"
#include "server/rpc/request_limits.h"
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

grpc::ServerUnaryReactor* TapServiceImpl::VerifySun(grpc::CallbackServerContext* context,
                                                    const v1::VerifySunRequest* request,
                                                    v1::VerifySunResponse* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = Authorize(context, "VerifySun");
  std::shared_ptr<const keys::KeyStore> keys =
      options_.keys != nullptr ? options_.keys->Current() : nullptr;
  if (status.ok()) status = CheckLimits(*request);
  if (status.ok()) status = CheckSunRequest(*request, keys.get(), options_.max_batch);
  if (status.ok()) {
    tap::SunVerifier verifier(*keys,
                              {.meta_key = request->meta_key_name(),
                               .file_key = request->file_key_name(),
                               .aid = request->aid()},
                              options_.sun_counters);
    status = verifier.CheckKeys();
    for (int i = 0; status.ok() && i < request->messages_size(); ++i) {
      const tap::SunResult r =
          verifier.Verify(SunInputFromProto(request->cipher(), request->messages(i)));
      SunResultToProto(r, static_cast<uint64_t>(i), response->add_results());
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
  }
  if (!status.ok()) response->Clear();
  Done("VerifySun", context, start, status);
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace desfired::server
