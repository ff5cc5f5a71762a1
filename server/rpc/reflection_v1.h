// ReflectionV1Service: grpc.reflection.v1.ServerReflection, answered by the server's own
// grpc.reflection.v1alpha service (gRPC's reflection plugin, which in gRPC 1.51 serves v1alpha
// only). Both versions have the same messages with the same field numbers, so each v1 request
// is passed as it is to v1alpha over the server's in-process channel and its answer returned:
// one reflection logic, two names. Clients that ask v1 first (buf curl, grpcurl, newer grpcio
// reflection clients) see the same services and files as v1alpha clients.
//
//   ReflectionV1Service v1;
//   builder.RegisterService(&v1);                       // beside the v1alpha plugin
//   server = builder.BuildAndStart();
//   v1.SetChannel(server->InProcessChannel({}));        // before: calls answer UNAVAILABLE
//
// A v1 stream holds one v1alpha stream for its life; it ends when its client ends it, with
// v1alpha's status. Like v1alpha it needs no token (docs/security.md: reflection is open).
//
// Thread-safe. The service must outlive the server; the channel is the server's own.
#ifndef DESFIRED_SERVER_RPC_REFLECTION_V1_H_
#define DESFIRED_SERVER_RPC_REFLECTION_V1_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpcpp/channel.h"

namespace desfired::server {

class ReflectionV1Service final : public grpc::reflection::v1::ServerReflection::Service {
 public:
  void SetChannel(std::shared_ptr<grpc::Channel> channel);

  grpc::Status ServerReflectionInfo(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<grpc::reflection::v1::ServerReflectionResponse,
                               grpc::reflection::v1::ServerReflectionRequest>* stream) override;

 private:
  absl::Mutex mu_;
  std::shared_ptr<grpc::Channel> channel_ ABSL_GUARDED_BY(mu_);
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_REFLECTION_V1_H_
