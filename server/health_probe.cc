// desfired-health-probe: exits 0 when desfired's health service says SERVING, 1 otherwise
// (the Docker HEALTHCHECK; grpc_health_probe is not packaged in Debian).
//
//   desfired-health-probe [--addr 127.0.0.1:50051] [--service NAME] [--timeout-ms 2000]
//                         [--tls-ca FILE [--tls-cert FILE --tls-key FILE]
//                          [--tls-server-name NAME]]
//
// Against a desfired with TLS, --tls-ca turns TLS on (the roots that signed the server
// certificate); with mutual TLS the probe needs a client certificate and key as well. Health
// needs no token.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string addr = "127.0.0.1:50051";
  std::string service;
  long timeout_ms = 2000;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--addr") == 0 && has_value) {
      addr = argv[++i];
    } else if (std::strcmp(argv[i], "--service") == 0 && has_value) {
      service = argv[++i];
    } else if (std::strcmp(argv[i], "--timeout-ms") == 0 && has_value) {
      timeout_ms = std::strtol(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--tls-ca") == 0 && has_value) {
      tls_ca = argv[++i];
    } else if (std::strcmp(argv[i], "--tls-cert") == 0 && has_value) {
      tls_cert = argv[++i];
    } else if (std::strcmp(argv[i], "--tls-key") == 0 && has_value) {
      tls_key = argv[++i];
    } else if (std::strcmp(argv[i], "--tls-server-name") == 0 && has_value) {
      tls_server_name = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: desfired-health-probe [--addr HOST:PORT] [--service NAME] "
                   "[--timeout-ms N] [--tls-ca FILE [--tls-cert FILE --tls-key FILE] "
                   "[--tls-server-name NAME]]\n");
      return 2;
    }
  }
  if (tls_cert.empty() != tls_key.empty() || (tls_ca.empty() && !tls_cert.empty()) ||
      (tls_ca.empty() && !tls_server_name.empty())) {
    std::fprintf(stderr,
                 "desfired-health-probe: --tls-cert and --tls-key go together, and need "
                 "--tls-ca, as does --tls-server-name\n");
    return 2;
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments args;
  if (!tls_ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!ReadFile(tls_ca, &ssl.pem_root_certs) ||
        (!tls_cert.empty() &&
         (!ReadFile(tls_cert, &ssl.pem_cert_chain) || !ReadFile(tls_key, &ssl.pem_private_key)))) {
      std::fprintf(stderr, "desfired-health-probe: cannot read a --tls-* file\n");
      return 2;
    }
    credentials = grpc::SslCredentials(ssl);
    if (!tls_server_name.empty()) args.SetSslTargetNameOverride(tls_server_name);
  }
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateCustomChannel(addr, credentials, args));
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
