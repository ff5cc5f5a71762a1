#include "server/rpc/reflection_v1.h"

#include <utility>

#include "grpcpp/client_context.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/support/sync_stream.h"

namespace desfired::server {

namespace v1 = grpc::reflection::v1;

namespace {

// The v1alpha method, called with v1's messages (the same wire format).
constexpr char kV1AlphaMethod[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

}  // namespace

void ReflectionV1Service::SetChannel(std::shared_ptr<grpc::Channel> channel) {
  absl::MutexLock lock(&mu_);
  channel_ = std::move(channel);
}

grpc::Status ReflectionV1Service::ServerReflectionInfo(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::ServerReflectionResponse, v1::ServerReflectionRequest>* stream) {
  std::shared_ptr<grpc::Channel> channel;
  {
    absl::MutexLock lock(&mu_);
    channel = channel_;
  }
  if (!channel) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is starting");
  grpc::ClientContext alpha_context;
  alpha_context.set_deadline(context->deadline());
  const grpc::internal::RpcMethod method(kV1AlphaMethod, grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::ServerReflectionRequest, v1::ServerReflectionResponse>>
      alpha(grpc::internal::ClientReaderWriterFactory<
            v1::ServerReflectionRequest, v1::ServerReflectionResponse>::Create(channel.get(),
                                                                               method,
                                                                               &alpha_context));
  v1::ServerReflectionRequest request;
  v1::ServerReflectionResponse response;
  while (stream->Read(&request)) {
    if (!alpha->Write(request) || !alpha->Read(&response)) break;
    if (!stream->Write(response)) break;
  }
  alpha->WritesDone();
  return alpha->Finish();
}

}  // namespace desfired::server
