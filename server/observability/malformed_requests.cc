#include "server/observability/malformed_requests.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"
#include "proto/convert/status_convert.h"

namespace desfired::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

class MalformedRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  MalformedRequestInterceptor(Observability& obs, grpc::experimental::ServerRpcInfo* info)
      : obs_(obs), info_(info) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    // The request of a unary or server-streaming call is received once, before the method
    // runs: no message there means it did not parse (or the client sent none).
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      malformed_ = true;
    }
    if (malformed_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Report(methods);
    }
    methods->Proceed();
  }

 private:
  void Report(grpc::experimental::InterceptorBatchMethods* methods) {
    methods->ModifySendStatus(ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("the request is not a valid protobuf message of ", info_->method()))));
    obs_.MalformedRequest(info_->method(), info_->server_context()->peer());
  }

  Observability& obs_;
  grpc::experimental::ServerRpcInfo* const info_;
  bool malformed_ = false;
};

}  // namespace

grpc::experimental::Interceptor* MalformedRequestInterceptors::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  if (info->type() != Type::UNARY && info->type() != Type::SERVER_STREAMING) return nullptr;
  return new MalformedRequestInterceptor(obs_, info);
}

}  // namespace desfired::server
