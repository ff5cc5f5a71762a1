// HealthServiceImpl: grpc.health.v1.Health (Check and Watch) with a bound on the Watch streams,
// in place of gRPC's default health service (EnableDefaultHealthCheckService), whose Watch
// streams are unbounded.
//
//   HealthServiceImpl health({.max_watchers = 100});
//   builder.RegisterService(&health);
//   health.SetServingStatus("", true);                          // the server as a whole
//   health.SetServingStatus("desfired.v1.CardService", false);  // pcscd lost
//   health.Shutdown();                                          // NOT_SERVING, final
//
// Check: the status of the service named ("" = the server); NOT_FOUND for a service never set.
// Watch: the current status at once (SERVICE_UNKNOWN for a service never set), then each
// change; when statuses change faster than the client reads, it gets the latest. Needs no
// token (load balancers and probes call it), hence the bound: at most `max_watchers` Watch
// streams are open at a time, over all callers; one more is answered RESOURCE_EXHAUSTED /
// TOO_MANY_STREAMS at once. Shutdown() sets every service NOT_SERVING (later SetServingStatus
// calls are ignored) and ends every Watch stream after that status with UNAVAILABLE /
// SHUTTING_DOWN, so that the server's shutdown does not wait for them.
//
// Thread-safe. The service must outlive the gRPC server it is registered with.
#ifndef DESFIRED_SERVER_RPC_HEALTH_SERVICE_H_
#define DESFIRED_SERVER_RPC_HEALTH_SERVICE_H_

#include <cstddef>
#include <map>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace desfired::server {

class HealthServiceImpl final : public grpc::health::v1::Health::CallbackService {
 public:
  struct Options {
    size_t max_watchers = 100;  // Watch streams open at once, all callers together
  };

  explicit HealthServiceImpl(Options options) : options_(options) {}

  // Sets the status of `service` ("" = the server as a whole) and tells its watchers.
  void SetServingStatus(const std::string& service, bool serving) ABSL_LOCKS_EXCLUDED(mu_);
  // Every service NOT_SERVING from now on; Watch streams end (see above). Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);
  // Open Watch streams.
  size_t watchers() const ABSL_LOCKS_EXCLUDED(mu_);

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  class WatchReactor;
  using Status = grpc::health::v1::HealthCheckResponse::ServingStatus;

  Status StatusLocked(const std::string& service) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
  std::set<WatchReactor*> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_HEALTH_SERVICE_H_
