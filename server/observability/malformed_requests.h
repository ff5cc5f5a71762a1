// MalformedRequestInterceptors: a gRPC server interceptor that answers a request body which
// is not a valid protobuf message of its method with INVALID_ARGUMENT, and logs and counts it.
//
//   builder.experimental().SetInterceptorCreators(...,
//       std::make_unique<MalformedRequestInterceptors>(*obs));
//
// Why an interceptor: gRPC (1.51) parses the request of a unary or server-streaming method
// before any of our code runs; when that fails the method is never called, and the callback
// API answers UNIMPLEMENTED with an empty message (the sync API INTERNAL). The interceptor sees
// the failure as an empty received message at POST_RECV_MESSAGE and rewrites the status at
// PRE_SEND_STATUS:
//
//   INVALID_ARGUMENT "the request is not a valid protobuf message of /desfired.v1.X/Y"
//     with one google.rpc.ErrorInfo, reason INVALID_ARGUMENT (proto/convert/status_convert.h)
//   warn "malformed request"  service method peer          (never a byte of the body)
//   desfired_malformed_requests_total{service,method} + 1
//
// Every unary and server-streaming method that gRPC parses is covered (CardService,
// grpc.health.v1.Health). TapService reads its requests as bytes (ParseTaps, and each chunk of
// the bidi-streaming ParseTapStream) and reports one that does not parse itself, through
// ServerHooks::on_malformed into the same Observability::MalformedRequest. For a bidi stream
// parsed by gRPC a message that fails to parse looks like a half-close (OnReadDone(false)),
// which is why ParseTapStream reads bytes.
//
// Thread-safe: the factory is called from gRPC's threads; one interceptor serves one call. The
// Observability must outlive the server.
#ifndef DESFIRED_SERVER_OBSERVABILITY_MALFORMED_REQUESTS_H_
#define DESFIRED_SERVER_OBSERVABILITY_MALFORMED_REQUESTS_H_

#include "grpcpp/support/server_interceptor.h"
#include "server/observability/observability.h"

namespace desfired::server {

class MalformedRequestInterceptors final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MalformedRequestInterceptors(Observability& obs) : obs_(obs) {}

  // An interceptor for unary and server-streaming calls; nullptr for the others.
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  Observability& obs_;
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_OBSERVABILITY_MALFORMED_REQUESTS_H_
