#include "server/rpc/health_service.h"

#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/apdu/status_payload.h"
#include "proto/convert/status_convert.h"
#include "server/readers/reasons.h"
#include "server/security/auth.h"

namespace desfired::server {

using grpc::health::v1::HealthCheckResponse;

// One Watch stream: writes the newest status whenever it differs from the one sent last, one
// write at a time.
class HealthServiceImpl::WatchReactor final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  WatchReactor(HealthServiceImpl& service, std::string name)
      : service_(service), name_(std::move(name)) {}

  // The service watched ("" = the server).
  const std::string& service() const { return name_; }

  // A new status; `last`: end the stream once it is written (Shutdown).
  void Update(Status status, bool last) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    pending_ = status;
    last_ = last_ || last;
    PumpLocked();
  }

  // Ends the stream at once with `status` (before any write).
  void Refuse(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    FinishLocked(ToGrpcStatus(status));
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    PumpLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled"));
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&service_.mu_);
      service_.watchers_.erase(this);
    }
    delete this;
  }

 private:
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    if (pending_.has_value() && pending_ != sent_) {
      sent_ = pending_;
      pending_.reset();
      out_.set_status(*sent_);
      writing_ = true;
      StartWrite(&out_);
      return;
    }
    pending_.reset();
    if (last_) {
      FinishLocked(ToGrpcStatus(
          WithReason(absl::UnavailableError("the server is shutting down"), kReasonShuttingDown)));
    }
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  HealthServiceImpl& service_;
  const std::string name_;
  absl::Mutex mu_;
  std::optional<Status> pending_ ABSL_GUARDED_BY(mu_);
  std::optional<Status> sent_ ABSL_GUARDED_BY(mu_);
  bool last_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  HealthCheckResponse out_;
};

HealthServiceImpl::Status HealthServiceImpl::StatusLocked(const std::string& service) const {
  if (shut_down_) return HealthCheckResponse::NOT_SERVING;
  auto it = serving_.find(service);
  if (it == serving_.end()) return HealthCheckResponse::SERVICE_UNKNOWN;
  return it->second ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

void HealthServiceImpl::SetServingStatus(const std::string& service, bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  serving_[service] = serving;
  for (WatchReactor* w : watchers_) {
    if (w->service() == service) w->Update(StatusLocked(service), /*last=*/false);
  }
}

void HealthServiceImpl::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  shut_down_ = true;
  for (WatchReactor* w : watchers_) w->Update(HealthCheckResponse::NOT_SERVING, /*last=*/true);
}

size_t HealthServiceImpl::watchers() const {
  absl::MutexLock lock(&mu_);
  return watchers_.size();
}

grpc::ServerUnaryReactor* HealthServiceImpl::Check(
    grpc::CallbackServerContext* context, const grpc::health::v1::HealthCheckRequest* request,
    HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::MutexLock lock(&mu_);
  const Status status = StatusLocked(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
  } else {
    response->set_status(status);
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthServiceImpl::Watch(
    grpc::CallbackServerContext*, const grpc::health::v1::HealthCheckRequest* request) {
  auto* reactor = new WatchReactor(*this, request->service());
  absl::MutexLock lock(&mu_);
  if (watchers_.size() >= options_.max_watchers) {
    reactor->Refuse(WithReason(
        absl::ResourceExhaustedError(absl::StrCat(
            "at most ", options_.max_watchers,
            " health Watch streams may be open at once (all callers together); use Check, or "
            "retry later")),
        kReasonTooManyStreams));
    return reactor;
  }
  watchers_.insert(reactor);
  reactor->Update(StatusLocked(request->service()), /*last=*/shut_down_);
  return reactor;
}

}  // namespace desfired::server
