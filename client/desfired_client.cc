#include "client/desfired_client.h"

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/crypto/random.h"
#include "desfired/v1/card.grpc.pb.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/status.h"

namespace desfired::client {
namespace {

// Largest response accepted (the server's default limit is 16 MiB; a ParseTaps batch of the
// server's maximum size fits).
constexpr int kMaxReceiveBytes = 64 * 1024 * 1024;

absl::StatusOr<std::string> ReadPemFile(absl::string_view what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read the ", what, " file ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Binds a stub method to its stub: (context, request, response) -> grpc::Status.
template <typename Stub, typename Request, typename Response>
auto Bind(Stub* stub,
          grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*)) {
  return [stub, method](grpc::ClientContext* context, const Request& request, Response* response) {
    return (stub->*method)(context, request, response);
  };
}

}  // namespace

bool IsTransportError(const absl::Status& status) {
  return (status.code() == absl::StatusCode::kUnavailable ||
          status.code() == absl::StatusCode::kDeadlineExceeded) &&
         !apdu::GetReason(status).has_value();
}

std::string NewRequestId() {
  uint8_t b[16];
  if (!crypto::RandomBytes(MutableByteSpan(b, sizeof(b))).ok()) {
    std::random_device rd;  // the CSPRNG failed: still unique enough for deduplication
    for (uint8_t& x : b) x = static_cast<uint8_t>(rd());
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return absl::StrFormat("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                         b[12], b[13], b[14], b[15]);
}

// --- CallCancellation ---------------------------------------------------------------------------

void CallCancellation::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

bool CallCancellation::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool CallCancellation::Attach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  context_ = context;
  return !cancelled_;
}

// --- Client -------------------------------------------------------------------------------------

struct Client::Stubs {
  std::shared_ptr<grpc::Channel> channel;  // null for CreateWithStubs
  std::unique_ptr<v1::CardService::StubInterface> card;
  std::unique_ptr<v1::TapService::StubInterface> taps;  // may be null (CreateWithStubs)
};

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.server.empty()) return absl::InvalidArgumentError("no server address");
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "a TLS client certificate and its key go together: give both or neither");
  }
  const bool tls = !options.tls_ca_file.empty() || !options.tls_cert_file.empty();
  if (!tls && !options.tls_server_name.empty()) {
    return absl::InvalidArgumentError("a TLS server name needs TLS (a CA or a client cert)");
  }
  if (!options.lb_policy.empty() && options.lb_policy != "pick_first" &&
      options.lb_policy != "round_robin") {
    return absl::InvalidArgumentError(absl::StrCat(
        "the load-balancing policy is pick_first or round_robin, not '", options.lb_policy, "'"));
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  if (!options.lb_policy.empty()) args.SetLoadBalancingPolicyName(options.lb_policy);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca_file.empty()) {
      absl::StatusOr<std::string> ca = ReadPemFile("TLS CA", options.tls_ca_file);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *std::move(ca);
    }
    if (!options.tls_cert_file.empty()) {
      absl::StatusOr<std::string> cert = ReadPemFile("TLS certificate", options.tls_cert_file);
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadPemFile("TLS key", options.tls_key_file);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
    if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  auto stubs = std::make_unique<Stubs>();
  stubs->channel = grpc::CreateCustomChannel(options.server, credentials, args);
  stubs->card = v1::CardService::NewStub(stubs->channel);
  stubs->taps = v1::TapService::NewStub(stubs->channel);
  return std::unique_ptr<Client>(new Client(std::move(options), std::move(stubs)));
}

std::unique_ptr<Client> Client::CreateWithStubs(
    ClientOptions options, std::unique_ptr<v1::CardService::StubInterface> card,
    std::unique_ptr<v1::TapService::StubInterface> taps) {
  auto stubs = std::make_unique<Stubs>();
  stubs->card = std::move(card);
  stubs->taps = std::move(taps);
  return std::unique_ptr<Client>(new Client(std::move(options), std::move(stubs)));
}

Client::Client(ClientOptions options, std::unique_ptr<Stubs> stubs)
    : options_(std::move(options)), stubs_(std::move(stubs)) {}

Client::~Client() = default;

void Client::Prepare(grpc::ClientContext* context, absl::Duration timeout) const {
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  if (!options_.token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
  }
}

template <typename Response, typename Request, typename Method>
absl::StatusOr<Response> Client::Unary(Method method, const Request& request) {
  grpc::ClientContext context;
  Prepare(&context, options_.deadline);
  Response response;
  grpc::Status status = method(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

template <typename Response, typename Request, typename Method>
absl::StatusOr<Response> Client::Mutation(Method method, Request request) {
  if (request.request_id().empty()) request.set_request_id(NewRequestId());
  absl::Duration backoff = options_.retry_backoff;
  // Once an attempt may have applied the change, the outcome stays unknown until an attempt
  // succeeds (the server then answers with the recorded outcome): a later NO_CARD does not
  // undo it.
  bool outcome_unknown = false;
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<Response> response = Unary<Response>(method, request);
    if (response.ok()) return response;
    absl::Status status = response.status();
    if (GetErrorMetadata(status, apdu::kMetadataCommitState) == "UNKNOWN") outcome_unknown = true;
    if (status.code() == absl::StatusCode::kUnavailable && attempt < options_.mutation_retries) {
      absl::SleepFor(backoff);
      backoff *= 2;
      continue;
    }
    if (attempt > 0) {
      absl::Status annotated(
          status.code(),
          absl::StrCat(status.message(), " (attempt ", attempt + 1, " with the same request_id)"));
      status.ForEachPayload([&annotated](absl::string_view url, const absl::Cord& value) {
        annotated.SetPayload(url, value);
      });
      status = std::move(annotated);
    }
    if (outcome_unknown && GetErrorMetadata(status, apdu::kMetadataCommitState) != "UNKNOWN") {
      status = apdu::WithErrorMetadata(std::move(status), apdu::kMetadataCommitState, "UNKNOWN");
      status = apdu::WithCommitState(std::move(status), apdu::CommitState::kUnknown);
    }
    return apdu::WithErrorMetadata(std::move(status), apdu::kMetadataRequestId,
                                   request.request_id());
  }
}

#define DESFIRED_CARD_UNARY(Name)                                                     \
  absl::StatusOr<v1::Name##Response> Client::Name(const v1::Name##Request& request) { \
    return Unary<v1::Name##Response>(                                                 \
        Bind(stubs_->card.get(), &v1::CardService::StubInterface::Name), request);    \
  }
#define DESFIRED_CARD_MUTATION(Name)                                                          \
  absl::StatusOr<v1::Name##Response> Client::Name(v1::Name##Request request) {                \
    return Mutation<v1::Name##Response>(                                                      \
        Bind(stubs_->card.get(), &v1::CardService::StubInterface::Name), std::move(request)); \
  }

DESFIRED_CARD_UNARY(ListReaders)
DESFIRED_CARD_UNARY(GetCardInfo)
DESFIRED_CARD_UNARY(ListApplications)
DESFIRED_CARD_UNARY(ListFiles)
DESFIRED_CARD_UNARY(GetFileSettings)
DESFIRED_CARD_UNARY(VerifyOriginality)
DESFIRED_CARD_UNARY(ReadData)
DESFIRED_CARD_UNARY(GetValue)
DESFIRED_CARD_UNARY(ReadRecords)
DESFIRED_CARD_UNARY(ReadTapLog)

DESFIRED_CARD_MUTATION(WriteData)
DESFIRED_CARD_MUTATION(Credit)
DESFIRED_CARD_MUTATION(Debit)
DESFIRED_CARD_MUTATION(LimitedCredit)
DESFIRED_CARD_MUTATION(WriteRecord)
DESFIRED_CARD_MUTATION(ClearRecordFile)
DESFIRED_CARD_MUTATION(CommitTransaction)
DESFIRED_CARD_MUTATION(AbortTransaction)
DESFIRED_CARD_MUTATION(FormatCard)
DESFIRED_CARD_MUTATION(CreateApplication)
DESFIRED_CARD_MUTATION(DeleteApplication)
DESFIRED_CARD_MUTATION(CreateFile)
DESFIRED_CARD_MUTATION(ChangeFileSettings)
DESFIRED_CARD_MUTATION(DeleteFile)
DESFIRED_CARD_MUTATION(ChangeKey)
DESFIRED_CARD_MUTATION(ChangeKeySettings)

#undef DESFIRED_CARD_UNARY
#undef DESFIRED_CARD_MUTATION

#define DESFIRED_TAP_UNARY(Name)                                                             \
  absl::StatusOr<v1::Name##Response> Client::Name(const v1::Name##Request& request) {        \
    if (stubs_->taps == nullptr) return absl::FailedPreconditionError("no TapService stub"); \
    return Unary<v1::Name##Response>(                                                        \
        Bind(stubs_->taps.get(), &v1::TapService::StubInterface::Name), request);            \
  }
DESFIRED_TAP_UNARY(ParseTaps)
DESFIRED_TAP_UNARY(VerifySun)
#undef DESFIRED_TAP_UNARY

absl::StatusOr<v1::VerifySunResponse> Client::VerifySunStream(
    const std::vector<v1::VerifySunRequest>& chunks,
    const std::function<void(const v1::VerifySunResponse&)>& on_results) {
  if (stubs_->taps == nullptr) return absl::FailedPreconditionError("no TapService stub");
  grpc::ClientContext context;
  Prepare(&context, options_.deadline);
  std::unique_ptr<grpc::ClientReaderWriterInterface<v1::VerifySunRequest, v1::VerifySunResponse>>
      stream = stubs_->taps->VerifySunStream(&context);
  v1::VerifySunResponse response;
  bool open = true;
  for (const v1::VerifySunRequest& chunk : chunks) {
    if (!stream->Write(chunk) || !stream->Read(&response)) {
      open = false;
      break;
    }
    if (on_results) on_results(response);
  }
  if (open) {
    stream->WritesDone();
    if (!stream->Read(&response)) response.Clear();
  }
  grpc::Status status = stream->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::Status Client::WatchCards(const v1::WatchCardsRequest& request,
                                const std::function<bool(const v1::WatchCardsResponse&)>& on_item,
                                CallCancellation* cancel, absl::Duration timeout) {
  grpc::ClientContext context;
  Prepare(&context, timeout);
  if (cancel != nullptr && !cancel->Attach(&context)) {
    cancel->Attach(nullptr);
    return absl::OkStatus();
  }
  std::unique_ptr<grpc::ClientReaderInterface<v1::WatchCardsResponse>> reader =
      stubs_->card->WatchCards(&context, request);
  v1::WatchCardsResponse item;
  bool stopped = false;
  while (reader->Read(&item)) {
    if (!on_item(item)) {
      stopped = true;
      context.TryCancel();
      while (reader->Read(&item)) {
      }
      break;
    }
  }
  grpc::Status status = reader->Finish();
  if (cancel != nullptr) {
    cancel->Attach(nullptr);
    stopped = stopped || cancel->cancelled();
  }
  if (stopped) return absl::OkStatus();
  return FromGrpcStatus(status);
}

absl::StatusOr<v1::TapSummary> Client::ParseTapStream(
    const std::function<absl::StatusOr<bool>(v1::TapInput* input)>& next,
    const std::function<void(const v1::ParseTapStreamResponse&)>& on_results,
    const TapStreamOptions& stream_options, CallCancellation* cancel) {
  if (stubs_->taps == nullptr) return absl::FailedPreconditionError("no TapService stub");
  const size_t chunk_records = std::max<size_t>(stream_options.chunk_records, 1);
  const size_t max_unacked = std::max<size_t>(stream_options.max_unacked_chunks, 1);
  grpc::ClientContext context;
  Prepare(&context, stream_options.timeout);
  if (cancel != nullptr && !cancel->Attach(&context)) {
    cancel->Attach(nullptr);
    return absl::CancelledError("cancelled");
  }
  std::unique_ptr<
      grpc::ClientReaderWriterInterface<v1::ParseTapStreamRequest, v1::ParseTapStreamResponse>>
      stream = stubs_->taps->ParseTapStream(&context);

  // The writer thread and this one share the count of unanswered chunks.
  absl::Mutex mu;
  absl::CondVar changed;
  size_t unacked = 0;
  bool reader_done = false;
  absl::Status source_error;

  std::thread writer([&] {
    v1::ParseTapStreamRequest chunk;
    bool more = true;
    while (more) {
      chunk.Clear();
      chunk.set_view(stream_options.view);
      while (static_cast<size_t>(chunk.records_size()) < chunk_records) {
        absl::StatusOr<bool> got = next(chunk.add_records());
        if (!got.ok() || !*got) chunk.mutable_records()->RemoveLast();
        if (!got.ok()) {
          absl::MutexLock lock(&mu);
          source_error = got.status();
          context.TryCancel();
          return;
        }
        if (!*got) {
          more = false;
          break;
        }
      }
      if (chunk.records_size() == 0) break;
      {
        absl::MutexLock lock(&mu);
        while (unacked >= max_unacked && !reader_done) changed.Wait(&mu);
        if (reader_done) return;
        ++unacked;
      }
      if (!stream->Write(chunk)) return;  // the call ended; Finish has the status
    }
    stream->WritesDone();
  });

  v1::ParseTapStreamResponse response;
  std::optional<v1::TapSummary> summary;
  while (stream->Read(&response)) {
    if (response.has_summary()) {
      summary = response.summary();
      continue;
    }
    {
      absl::MutexLock lock(&mu);
      if (unacked > 0) --unacked;
      changed.Signal();
    }
    on_results(response);
  }
  {
    absl::MutexLock lock(&mu);
    reader_done = true;
    changed.SignalAll();
  }
  writer.join();
  grpc::Status status = stream->Finish();
  if (cancel != nullptr) cancel->Attach(nullptr);
  if (!source_error.ok()) return source_error;
  if (cancel != nullptr && cancel->cancelled()) return absl::CancelledError("cancelled");
  if (!status.ok()) return FromGrpcStatus(status);
  if (!summary.has_value()) {
    return absl::InternalError("ParseTapStream ended without a summary");
  }
  return *std::move(summary);
}

}  // namespace desfired::client
