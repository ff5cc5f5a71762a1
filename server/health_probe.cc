// desfired-health-probe: exits 0 when desfired's health service says SERVING, 1 otherwise
// (the Docker HEALTHCHECK; grpc_health_probe is not packaged in Debian).
//
//   desfired-health-probe [--addr 127.0.0.1:50051] [--service NAME] [--timeout-ms 2000]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

int main(int argc, char** argv) {
  std::string addr = "127.0.0.1:50051";
  std::string service;
  long timeout_ms = 2000;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--addr") == 0 && has_value) {
      addr = argv[++i];
    } else if (std::strcmp(argv[i], "--service") == 0 && has_value) {
      service = argv[++i];
    } else if (std::strcmp(argv[i], "--timeout-ms") == 0 && has_value) {
      timeout_ms = std::strtol(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr,
                   "usage: desfired-health-probe [--addr HOST:PORT] [--service NAME] "
                   "[--timeout-ms N]\n");
      return 2;
    }
  }
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "desfired-health-probe: %s: %s\n", addr.c_str(),
                 status.error_message().c_str());
    return 1;
  }
  const bool serving = response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  std::printf("%s\n", serving ? "SERVING" : "NOT_SERVING");
  return serving ? 0 : 1;
}
