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
// Every unary and server-streaming method of the server is covered (CardService, TapService,
// grpc.health.v1.Health). Client- and bidi-streaming methods are not: there gRPC hands a
// message that fails to parse to the reader as the end of the stream (OnReadDone(false)), the
// same as a half-close, and nothing outside the reader can tell the two apart.
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
