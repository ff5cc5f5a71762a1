// Uses the installed desfired package the way a backend's code and tests would: a Client for
// a server address, a Client over the generated gMock stub, and the error details of a failed
// call. Prints "consumer: ok" and exits 0 when everything behaves.
#include <iostream>
#include <memory>
#include <string>
#include <utility>

#include "client/desfired_client.h"
#include "core/apdu/status_payload.h"
#include "desfired/v1/card_mock.grpc.pb.h"
#include "desfired/v1/errors.pb.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace {

int Fail(const std::string& what) {
  std::cerr << "consumer: " << what << "\n";
  return 1;
}

}  // namespace

int main() {
  using ::testing::_;
  using ::testing::Return;
  namespace client = desfired::client;
  namespace v1 = desfired::v1;

  // A real client: connecting is lazy, so no server is needed to create it.
  client::ClientOptions options;
  options.server = "127.0.0.1:1";
  absl::StatusOr<std::unique_ptr<client::Client>> real = client::Client::Create(options);
  if (!real.ok()) return Fail(std::string(real.status().message()));

  // A client over the gMock stub: the reader list comes from the mock.
  auto stub = std::make_unique<v1::MockCardServiceStub>();
  v1::ListReadersResponse readers;
  readers.add_readers()->set_name("Mock PCD 00 00");
  EXPECT_CALL(*stub, ListReaders(_, _, _))
      .WillOnce([&readers](grpc::ClientContext*, const v1::ListReadersRequest&,
                           v1::ListReadersResponse* response) {
        *response = readers;
        return grpc::Status::OK;
      });
  // A debit that fails with NO_CARD, as desfired reports it.
  google::rpc::ErrorInfo info;
  info.set_reason(v1::ErrorReason_Name(v1::NO_CARD));
  info.set_domain("desfired.dev");
  google::rpc::Status details;
  details.set_code(grpc::StatusCode::FAILED_PRECONDITION);
  details.add_details()->PackFrom(info);
  EXPECT_CALL(*stub, Debit(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no card",
                                    details.SerializeAsString())));
  std::unique_ptr<client::Client> mocked =
      client::Client::CreateWithStubs(options, std::move(stub));

  absl::StatusOr<v1::ListReadersResponse> listed = mocked->ListReaders();
  if (!listed.ok() || listed->readers_size() != 1 ||
      listed->readers(0).name() != "Mock PCD 00 00") {
    return Fail("ListReaders over the mock stub did not return the mock's reader");
  }
  v1::DebitRequest debit;
  debit.mutable_target()->set_reader("Mock PCD 00 00");
  debit.set_amount(1);
  absl::StatusOr<v1::DebitResponse> debited = mocked->Debit(debit);
  if (debited.ok() || desfired::apdu::GetReason(debited.status()) != "NO_CARD") {
    return Fail("the debit's NO_CARD reason did not come through");
  }
  if (!client::GetErrorMetadata(debited.status(), "request_id").has_value()) {
    return Fail("the failed debit carries no request_id");
  }
  std::cout << "consumer: ok (" << client::NewRequestId().size() << "-character request ids)\n";
  return 0;
}
