// desfired_client against a fake CardService / TapService on loopback: the status conversion
// (the inverse of the server's ToGrpcStatus), request ids and retries of changes, the bearer
// token, WatchCards with a callback and cancellation, and the ParseTapStream helper.
#include "client/desfired_client.h"

#include <deque>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "desfired/v1/card.grpc.pb.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "proto/convert/status_convert.h"

namespace desfired::client {
namespace {

using ::testing::HasSubstr;

// A CARD_REMOVED error as the server sends it after a lost commit.
grpc::Status CardRemovedUnknown() {
  absl::Status s = apdu::CardRemovedError("card gone during the commit");
  s.SetPayload(apdu::kCommitStateTypeUrl, absl::Cord("UNKNOWN"));
  return ToGrpcStatus(s);
}

class FakeCards final : public v1::CardService::Service {
 public:
  grpc::Status Debit(grpc::ServerContext* context, const v1::DebitRequest* request,
                     v1::DebitResponse* response) override {
    absl::MutexLock lock(&mu_);
    request_ids_.push_back(request->request_id());
    auto auth = context->client_metadata().find("authorization");
    authorization_ = auth == context->client_metadata().end()
                         ? ""
                         : std::string(auth->second.data(), auth->second.size());
    if (!debit_errors_.empty()) {
      grpc::Status error = debit_errors_.front();
      debit_errors_.pop_front();
      return error;
    }
    response->mutable_change()->set_committed(true);
    return grpc::Status::OK;
  }

  grpc::Status GetValue(grpc::ServerContext*, const v1::GetValueRequest*,
                        v1::GetValueResponse*) override {
    absl::MutexLock lock(&mu_);
    ++get_value_calls_;
    return ToGrpcStatus(
        apdu::WithReason(absl::UnavailableError("pcscd is down"), "PCSC_UNAVAILABLE"));
  }

  grpc::Status WatchCards(grpc::ServerContext* context, const v1::WatchCardsRequest*,
                          grpc::ServerWriter<v1::WatchCardsResponse>* writer) override {
    v1::WatchCardsResponse item;
    item.mutable_snapshot()->set_sequence(7);
    writer->Write(item);
    for (uint64_t seq = 8; seq < 11; ++seq) {
      item.mutable_event()->set_sequence(seq);
      writer->Write(item);
    }
    while (!context->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
    return grpc::Status::CANCELLED;
  }

  // The next debits fail with these errors, in order.
  void FailDebits(std::vector<grpc::Status> errors) {
    absl::MutexLock lock(&mu_);
    debit_errors_.assign(errors.begin(), errors.end());
  }
  std::vector<std::string> request_ids() {
    absl::MutexLock lock(&mu_);
    return request_ids_;
  }
  std::string authorization() {
    absl::MutexLock lock(&mu_);
    return authorization_;
  }
  int get_value_calls() {
    absl::MutexLock lock(&mu_);
    return get_value_calls_;
  }

 private:
  absl::Mutex mu_;
  std::deque<grpc::Status> debit_errors_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> request_ids_ ABSL_GUARDED_BY(mu_);
  std::string authorization_ ABSL_GUARDED_BY(mu_);
  int get_value_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

// Answers every chunk with one VALID result per record (stream-wide indexes), then the summary.
class FakeTaps final : public v1::TapService::Service {
 public:
  grpc::Status ParseTapStream(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::ParseTapStreamResponse, v1::ParseTapStreamRequest>* stream)
      override {
    v1::ParseTapStreamRequest chunk;
    uint64_t processed = 0;
    while (stream->Read(&chunk)) {
      v1::ParseTapStreamResponse response;
      for (const v1::TapInput& input : chunk.records()) {
        v1::TapResult* r = response.add_results();
        r->set_index(processed++);
        r->set_status(v1::TapResult::VALID);
        r->set_raw_hex(input.raw());
      }
      response.set_records_processed(processed);
      stream->Write(response);
    }
    v1::ParseTapStreamResponse last;
    last.set_records_processed(processed);
    last.mutable_summary()->set_total(processed);
    last.mutable_summary()->set_valid(processed);
    stream->Write(last);
    return grpc::Status::OK;
  }
};

class DesfiredClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&cards_);
    builder.RegisterService(&taps_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override { server_->Shutdown(absl::ToChronoTime(absl::Now())); }

  std::unique_ptr<Client> NewClient(ClientOptions options = {}) {
    options.server = absl::StrCat("127.0.0.1:", port_);
    options.deadline = absl::Seconds(5);
    options.retry_backoff = absl::Milliseconds(1);
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  FakeCards cards_;
  FakeTaps taps_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST(FromGrpcStatusTest, ErrorInfoBecomesPayloads) {
  absl::Status in = apdu::WithErrorMetadata(
      apdu::WithReason(absl::OutOfRangeError("value 120 is less than the debit 500"),
                       "INSUFFICIENT_VALUE"),
      "reader", "Test PCD 00 00");
  in.SetPayload(apdu::kDesfireStatusTypeUrl, absl::Cord(std::string(1, '\xBE')));
  in.SetPayload(apdu::kStatusWordTypeUrl, absl::Cord(std::string("\x91\xBE", 2)));
  in.SetPayload(apdu::kCommitStateTypeUrl, absl::Cord("NOT_COMMITTED"));
  absl::Status out = FromGrpcStatus(ToGrpcStatus(in));
  EXPECT_EQ(out.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(out.message(), "value 120 is less than the debit 500");
  EXPECT_EQ(apdu::GetReason(out), "INSUFFICIENT_VALUE");
  EXPECT_EQ(apdu::GetDesfireStatus(out), 0xBE);
  EXPECT_EQ(apdu::GetStatusWord(out), 0x91BE);
  EXPECT_EQ(apdu::GetCommitState(out), apdu::CommitState::kNotCommitted);
  EXPECT_EQ(GetErrorMetadata(out, "reader"), "Test PCD 00 00");
  EXPECT_EQ(GetErrorMetadata(out, "desfire_status"), "BE");
  EXPECT_EQ(GetErrorMetadata(out, "commit_state"), "NOT_COMMITTED");
  EXPECT_FALSE(IsTransportError(out));
  // Through the server's mapping again: the same ErrorInfo.
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(ToErrorInfo(out), ToErrorInfo(in)));
}

TEST(FromGrpcStatusTest, WithoutDetailsIsATransportError) {
  absl::Status out = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connect failed"));
  EXPECT_EQ(out.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(apdu::GetReason(out).has_value());
  EXPECT_TRUE(IsTransportError(out));
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
  // A desfired UNAVAILABLE is not a transport error.
  EXPECT_FALSE(IsTransportError(FromGrpcStatus(CardRemovedUnknown())));
}

TEST(NewRequestIdTest, UuidFormAndUnique) {
  const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string id = NewRequestId();
    EXPECT_TRUE(std::regex_match(id, uuid)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(ClientCreateTest, RejectsHalfAClientCertificate) {
  ClientOptions options;
  options.tls_cert_file = "/nonexistent.pem";
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.tls_key_file = "/nonexistent.key";
  absl::Status s = Client::Create(options).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("/nonexistent.pem"));
  ClientOptions name_only;
  name_only.tls_server_name = "localhost";
  EXPECT_EQ(Client::Create(name_only).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(DesfiredClientTest, ChangeRetriedOnUnavailableWithTheSameRequestId) {
  cards_.FailDebits({CardRemovedUnknown(), CardRemovedUnknown()});
  ClientOptions options;
  options.mutation_retries = 2;
  options.token = "t0k";
  std::unique_ptr<Client> client = NewClient(options);
  absl::StatusOr<v1::DebitResponse> r = client->Debit(v1::DebitRequest());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->change().committed());
  std::vector<std::string> ids = cards_.request_ids();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_FALSE(ids[0].empty());
  EXPECT_EQ(ids[1], ids[0]);
  EXPECT_EQ(ids[2], ids[0]);
  EXPECT_EQ(cards_.authorization(), "Bearer t0k");
}

TEST_F(DesfiredClientTest, RetriesExhaustedKeepTheUnknownOutcome) {
  // The first attempt's commit answer was lost; the retry finds no card (NO_CARD is not
  // retried). The outcome stays unknown, and the error names the request id to retry with.
  const grpc::Status no_card =
      ToGrpcStatus(apdu::WithReason(absl::FailedPreconditionError("no card"), "NO_CARD"));
  cards_.FailDebits({CardRemovedUnknown(), no_card});
  ClientOptions options;
  options.mutation_retries = 1;
  std::unique_ptr<Client> client = NewClient(options);
  v1::DebitRequest req;
  req.set_request_id("mine-1");
  absl::StatusOr<v1::DebitResponse> r = client->Debit(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(apdu::GetReason(r.status()), "NO_CARD");
  EXPECT_EQ(GetErrorMetadata(r.status(), "commit_state"), "UNKNOWN");
  EXPECT_EQ(apdu::GetCommitState(r.status()), apdu::CommitState::kUnknown);
  EXPECT_EQ(GetErrorMetadata(r.status(), "request_id"), "mine-1");
  EXPECT_THAT(r.status().message(), HasSubstr("attempt 2"));
  EXPECT_EQ(cards_.request_ids(), (std::vector<std::string>{"mine-1", "mine-1"}));
}

TEST_F(DesfiredClientTest, OtherErrorsAndReadsAreNotRetried) {
  cards_.FailDebits({ToGrpcStatus(apdu::InvalidFieldError("amount", "negative"))});
  std::unique_ptr<Client> client = NewClient();
  absl::StatusOr<v1::DebitResponse> r = client->Debit(v1::DebitRequest());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorMetadata(r.status(), "field"), "amount");
  EXPECT_EQ(cards_.request_ids().size(), 1u);

  absl::StatusOr<v1::GetValueResponse> v = client->GetValue(v1::GetValueRequest());
  EXPECT_EQ(apdu::GetReason(v.status()), "PCSC_UNAVAILABLE");
  EXPECT_EQ(cards_.get_value_calls(), 1);
}

TEST_F(DesfiredClientTest, WatchStopsWhenTheCallbackSaysSo) {
  std::unique_ptr<Client> client = NewClient();
  std::vector<uint64_t> seen;
  absl::Status s =
      client->WatchCards(v1::WatchCardsRequest(), [&](const v1::WatchCardsResponse& item) {
        seen.push_back(item.has_snapshot() ? item.snapshot().sequence() : item.event().sequence());
        return seen.size() < 3;
      });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(seen, (std::vector<uint64_t>{7, 8, 9}));
}

TEST_F(DesfiredClientTest, WatchCancelledFromAnotherThread) {
  std::unique_ptr<Client> client = NewClient();
  CallCancellation cancel;
  absl::Notification all_read;
  std::thread canceller([&] {
    all_read.WaitForNotification();
    cancel.Cancel();
  });
  int items = 0;
  absl::Status s = client->WatchCards(
      v1::WatchCardsRequest(),
      [&](const v1::WatchCardsResponse&) {
        if (++items == 4) all_read.Notify();
        return true;
      },
      &cancel);
  canceller.join();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(items, 4);
  EXPECT_TRUE(cancel.cancelled());
  // Cancelled before it starts: returns at once.
  EXPECT_TRUE(client
                  ->WatchCards(
                      v1::WatchCardsRequest(), [](const auto&) { return true; }, &cancel)
                  .ok());
}

TEST_F(DesfiredClientTest, WatchTimeoutEndsTheStream) {
  std::unique_ptr<Client> client = NewClient();
  absl::Status s = client->WatchCards(
      v1::WatchCardsRequest(), [](const auto&) { return true; }, nullptr, absl::Milliseconds(200));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(DesfiredClientTest, ParseTapStreamInChunks) {
  std::unique_ptr<Client> client = NewClient();
  int next_record = 0;
  auto next = [&](v1::TapInput* input) -> absl::StatusOr<bool> {
    if (next_record == 10) return false;
    input->set_raw(absl::StrCat("r", next_record++));
    return true;
  };
  std::vector<uint64_t> indexes;
  int chunks = 0;
  auto on_results = [&](const v1::ParseTapStreamResponse& response) {
    ++chunks;
    for (const v1::TapResult& r : response.results()) indexes.push_back(r.index());
    EXPECT_EQ(response.records_processed(), indexes.size());
  };
  TapStreamOptions options;
  options.chunk_records = 3;
  options.max_unacked_chunks = 2;
  absl::StatusOr<v1::TapSummary> summary = client->ParseTapStream(next, on_results, options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->total(), 10u);
  EXPECT_EQ(chunks, 4);
  ASSERT_EQ(indexes.size(), 10u);
  for (uint64_t i = 0; i < 10; ++i) EXPECT_EQ(indexes[i], i);

  // An empty input: just the summary.
  summary = client->ParseTapStream([](v1::TapInput*) -> absl::StatusOr<bool> { return false; },
                                   [](const auto&) {});
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->total(), 0u);

  // An input error ends the call with it.
  int calls = 0;
  summary = client->ParseTapStream(
      [&](v1::TapInput* input) -> absl::StatusOr<bool> {
        if (++calls > 5) return absl::DataLossError("disk on fire");
        input->set_raw("x");
        return true;
      },
      [](const auto&) {}, options);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace desfired::client
