// desfired_client over the generated gMock stubs (desfired/v1/card_mock.grpc.pb.h), as a
// user's unit test would drive it: the retry of a change on UNAVAILABLE with the same
// request_id, the token and deadline of every attempt, reads that are never retried, and
// WatchCards over a mocked stream.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "client/desfired_client.h"
#include "core/apdu/status_payload.h"
#include "desfired/v1/card_mock.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/test/client_context_test_peer.h"
#include "grpcpp/test/mock_stream.h"
#include "gtest/gtest.h"

namespace desfired::client {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Return;

// A desfired error with its ErrorInfo, as the server sends it.
grpc::Status DesfiredError(grpc::StatusCode code, const std::string& reason) {
  google::rpc::ErrorInfo info;
  info.set_reason(reason);
  info.set_domain("desfired.dev");
  google::rpc::Status details;
  details.set_code(code);
  details.add_details()->PackFrom(info);
  return grpc::Status(code, reason + " from the mock", details.SerializeAsString());
}

// What one attempt of a call carried.
struct Attempt {
  std::string request_id;
  std::string authorization;
  absl::Duration deadline_left;
};

ClientOptions Options(int retries) {
  ClientOptions options;
  options.token = "t0ken";
  options.deadline = absl::Seconds(7);
  options.mutation_retries = retries;
  options.retry_backoff = absl::Milliseconds(1);
  return options;
}

// Records every Debit attempt and answers with `answers` in turn.
void ExpectDebits(v1::MockCardServiceStub& stub, std::vector<Attempt>* attempts,
                  std::vector<grpc::Status> answers) {
  auto next = std::make_shared<size_t>(0);
  EXPECT_CALL(stub, Debit(_, _, _))
      .Times(static_cast<int>(answers.size()))
      .WillRepeatedly([attempts, answers, next](grpc::ClientContext* context,
                                                const v1::DebitRequest& request,
                                                v1::DebitResponse* response) {
        Attempt a;
        a.request_id = request.request_id();
        std::multimap<std::string, std::string> metadata =
            grpc::testing::ClientContextTestPeer(context).GetSendInitialMetadata();
        if (auto it = metadata.find("authorization"); it != metadata.end()) {
          a.authorization = it->second;
        }
        a.deadline_left = absl::FromChrono(context->deadline()) - absl::Now();
        attempts->push_back(a);
        grpc::Status answer = answers[(*next)++];
        if (answer.ok()) {
          response->mutable_change()->set_committed(true);
          response->mutable_change()->set_value_after(41);
        }
        return answer;
      });
}

v1::DebitRequest OneDebit() {
  v1::DebitRequest debit;
  debit.mutable_target()->set_reader("Mock PCD 00 00");
  debit.set_aid(0xF51001);
  debit.set_file_no(1);
  debit.set_amount(1);
  return debit;
}

TEST(ClientMockTest, DebitRetriedOnUnavailableWithTheSameRequestId) {
  auto stub = std::make_unique<v1::MockCardServiceStub>();
  std::vector<Attempt> attempts;
  ExpectDebits(*stub, &attempts,
               {grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused"),
                DesfiredError(grpc::StatusCode::UNAVAILABLE, "CARD_REMOVED"), grpc::Status::OK});
  std::unique_ptr<Client> client = Client::CreateWithStubs(Options(2), std::move(stub));

  absl::StatusOr<v1::DebitResponse> r = client->Debit(OneDebit());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->change().value_after(), 41);
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_EQ(attempts[0].request_id.size(), 36u);  // made up by the client: a UUID
  for (const Attempt& a : attempts) {
    EXPECT_EQ(a.request_id, attempts[0].request_id);
    EXPECT_EQ(a.authorization, "Bearer t0ken");
    EXPECT_GT(a.deadline_left, absl::Seconds(6));
    EXPECT_LE(a.deadline_left, absl::Seconds(7));
  }
}

TEST(ClientMockTest, GivesUpAfterTheRetriesWithTheRequestIdInTheError) {
  auto stub = std::make_unique<v1::MockCardServiceStub>();
  std::vector<Attempt> attempts;
  ExpectDebits(*stub, &attempts,
               {DesfiredError(grpc::StatusCode::UNAVAILABLE, "CARD_REMOVED"),
                DesfiredError(grpc::StatusCode::UNAVAILABLE, "CARD_REMOVED")});
  std::unique_ptr<Client> client = Client::CreateWithStubs(Options(1), std::move(stub));
  v1::DebitRequest debit = OneDebit();
  debit.set_request_id("order-4711");

  absl::StatusOr<v1::DebitResponse> r = client->Debit(debit);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(apdu::GetReason(r.status()), "CARD_REMOVED");
  EXPECT_THAT(r.status().message(), HasSubstr("attempt 2 with the same request_id"));
  EXPECT_EQ(GetErrorMetadata(r.status(), "request_id"), "order-4711");
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].request_id, "order-4711");
  EXPECT_EQ(attempts[1].request_id, "order-4711");
}

TEST(ClientMockTest, NoCardIsNotRetried) {
  auto stub = std::make_unique<v1::MockCardServiceStub>();
  std::vector<Attempt> attempts;
  ExpectDebits(*stub, &attempts, {DesfiredError(grpc::StatusCode::FAILED_PRECONDITION, "NO_CARD")});
  std::unique_ptr<Client> client = Client::CreateWithStubs(Options(3), std::move(stub));
  absl::StatusOr<v1::DebitResponse> r = client->Debit(OneDebit());
  EXPECT_EQ(apdu::GetReason(r.status()), "NO_CARD");
  EXPECT_EQ(attempts.size(), 1u);
}

TEST(ClientMockTest, ReadsAreNotRetried) {
  auto stub = std::make_unique<v1::MockCardServiceStub>();
  EXPECT_CALL(*stub, GetValue(_, _, _))
      .Times(1)
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused")));
  std::unique_ptr<Client> client = Client::CreateWithStubs(Options(3), std::move(stub));
  absl::StatusOr<v1::GetValueResponse> r = client->GetValue({});
  EXPECT_TRUE(IsTransportError(r.status())) << r.status();
}

TEST(ClientMockTest, WatchCardsOverAMockStreamStopsWhenTheCallbackSaysSo) {
  auto stub = std::make_unique<v1::MockCardServiceStub>();
  auto* reader = new grpc::testing::MockClientReader<v1::WatchCardsResponse>();  // owned below
  v1::WatchCardsResponse snapshot;
  snapshot.mutable_snapshot()->set_sequence(5);
  v1::WatchCardsResponse inserted;
  inserted.mutable_event()->set_sequence(6);
  inserted.mutable_event()->set_kind(v1::CardEvent::CARD_INSERTED);
  EXPECT_CALL(*reader, Read(_))
      .WillOnce([&](v1::WatchCardsResponse* item) {
        *item = snapshot;
        return true;
      })
      .WillOnce([&](v1::WatchCardsResponse* item) {
        *item = inserted;
        return true;
      })
      .WillRepeatedly(Return(false));
  EXPECT_CALL(*reader, Finish()).WillOnce(Return(grpc::Status(grpc::StatusCode::CANCELLED, "")));
  EXPECT_CALL(*stub, WatchCardsRaw(_, _)).WillOnce(Return(reader));
  std::unique_ptr<Client> client = Client::CreateWithStubs(Options(0), std::move(stub));

  std::vector<uint64_t> seen;
  absl::Status s = client->WatchCards({}, [&](const v1::WatchCardsResponse& item) {
    seen.push_back(item.has_snapshot() ? item.snapshot().sequence() : item.event().sequence());
    return !item.has_event();  // stop at the first event
  });
  EXPECT_TRUE(s.ok()) << s;  // stopped by the callback: OK, not CANCELLED
  EXPECT_EQ(seen, (std::vector<uint64_t>{5, 6}));
}

TEST(ClientMockTest, TapCallsWithoutATapStubFail) {
  std::unique_ptr<Client> client =
      Client::CreateWithStubs(Options(0), std::make_unique<v1::MockCardServiceStub>());
  EXPECT_EQ(client->ParseTaps({}).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace desfired::client
