// desfired_client: a thin C++ client of desfired (CardService and TapService).
//
// Every unary RPC has a typed method returning absl::StatusOr<Response>. A failed call comes
// back as an absl::Status with the gRPC code and message, and with the google.rpc.ErrorInfo
// of the error (proto/desfired/v1/errors.proto) as payloads (see "Errors" below), so
// callers switch on the reason exactly as core code does:
//
//   ClientOptions options;
//   options.server = "127.0.0.1:50051";
//   DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Create(options));
//   v1::DebitRequest debit;
//   debit.mutable_target()->set_reader("ACS ACR122U 00 00");
//   debit.set_aid(0xF51001);
//   ...
//   debit.set_request_id(NewRequestId());       // keep it to retry the same change later
//   absl::StatusOr<v1::DebitResponse> r = client->Debit(debit);
//   if (!r.ok() && apdu::GetReason(r.status()) == "CARD_REMOVED") { ... }
//
// Calls that change a card (WriteData, Credit, Debit, LimitedCredit, WriteRecord,
// ClearRecordFile, CommitTransaction, AbortTransaction and the admin calls) get a random
// request_id when theirs is empty, and are retried on UNAVAILABLE up to
// ClientOptions::mutation_retries times with the SAME request_id (the server applies a
// request_id at most once). Other calls are not retried.
//
// Every unary call has the deadline ClientOptions::deadline. A bearer token, when set, is
// sent as `authorization: Bearer <token>` metadata on every call.
//
// Tests of code that uses a Client can run it over gMock stubs instead of a channel
// (desfired/v1/card_mock.grpc.pb.h, generated with the library):
//
//   auto stub = std::make_unique<desfired::v1::MockCardServiceStub>();
//   EXPECT_CALL(*stub, Debit(_, _, _)).WillOnce(Return(grpc::Status::OK));
//   std::unique_ptr<Client> client = Client::CreateWithStubs(options, std::move(stub));
//
// Thread-safe: one Client may be shared by any number of threads (gRPC channels and stubs
// are thread-safe; the Client holds no other mutable state).
#ifndef DESFIRED_CLIENT_DESFIRED_CLIENT_H_
#define DESFIRED_CLIENT_DESFIRED_CLIENT_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/apdu/status_payload.h"
#include "desfired/v1/card.grpc.pb.h"
#include "desfired/v1/card.pb.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "desfired/v1/taps.pb.h"
#include "proto/convert/status_convert.h"

namespace desfired::client {

// Errors. A failed call comes back through FromGrpcStatus (proto/convert/status_convert.h, the
// inverse of the server's ToGrpcStatus): the same code and message, and when the details hold
// a google.rpc.ErrorInfo:
//   ErrorInfo.reason            → the reason payload (apdu::GetReason);
//   ErrorInfo.metadata[k]       → payload kMetadataTypeUrlPrefix + k (GetErrorMetadata);
//   metadata "desfire_status"   → also the DESFire status payload (apdu::GetDesfireStatus);
//   metadata "sw"               → also the status word payload (apdu::GetStatusWord);
//   metadata "commit_state"     → also the commit-state payload (apdu::GetCommitState).
// A status without ErrorInfo (the server was not reached, a proxy answered, the client's own
// deadline passed) has no reason payload: see IsTransportError. The names below are the
// converter's and core's (core/apdu/status_payload.h), under the client's namespace.
using ::desfired::FromGrpcStatus;
// ErrorInfo.metadata[key] of an error converted by FromGrpcStatus, or nullopt.
using apdu::GetErrorMetadata;
using apdu::kMetadataTypeUrlPrefix;

// True for an UNAVAILABLE or DEADLINE_EXCEEDED error that carries no desfired reason: the
// call did not get an answer from desfired (server down, wrong address, TLS handshake failed,
// network trouble).
bool IsTransportError(const absl::Status& status);

// A fresh random request_id in the UUID version 4 text form
// ("1b4e28ba-2fa1-4d2b-883f-0016d3cca427"). Thread-safe.
std::string NewRequestId();

// The default of ClientOptions::mutation_retries, and of every client's retries of a change:
// desfirectl's --retries, the C++ examples' --retries and the Python client's
// mutation_retries (python/tests checks that it is the same number).
inline constexpr int kDefaultMutationRetries = 2;

struct ClientOptions {
  // host:port of desfired (any gRPC target string: "dns:///taps.example.org:50051" for every
  // address a name resolves to, "ipv4:10.0.0.5:50051,10.0.0.6:50051" for a list).
  std::string server = "127.0.0.1:50051";
  // gRPC's load-balancing policy over the addresses of `server`: "pick_first" (gRPC's default:
  // one address, the next only when it fails) or "round_robin" (every call to the next
  // address: ParseTapStream calls spread over a fleet's parse tier, docs/fleet.md). Empty:
  // gRPC's default.
  std::string lb_policy;
  // Deadline of every unary call (and of each retry attempt).
  absl::Duration deadline = absl::Seconds(30);
  // Bearer token sent as `authorization: Bearer <token>`; empty: none.
  std::string token;
  // TLS: when any of these is set the channel uses grpc::SslCredentials, else it is
  // insecure. PEM file paths: the root certificates to trust (empty: the system roots), and
  // the client certificate chain and key for mutual TLS (both or neither).
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Overrides the name checked against the server certificate (e.g. when connecting to an
  // IP address with a certificate for "localhost"). Needs TLS.
  std::string tls_server_name;
  // Retries of a change on UNAVAILABLE (so up to 1 + mutation_retries attempts), with the
  // same request_id, waiting retry_backoff, then twice that, and so on.
  // desfired records request ids in its audit ledger (docs/ledger.md) and answers a retry
  // from it, so a retried change is applied at most once. Against a server started without a
  // data directory (no ledger) set 0: a retry after a lost answer could apply it twice there.
  int mutation_retries = kDefaultMutationRetries;
  absl::Duration retry_backoff = absl::Milliseconds(200);
};

// Cancels a WatchCards or ParseTapStream call from another thread (e.g. on SIGINT).
// Thread-safe. Cancelling before the call starts makes the call return at once.
class CallCancellation {
 public:
  CallCancellation() = default;
  CallCancellation(const CallCancellation&) = delete;
  CallCancellation& operator=(const CallCancellation&) = delete;

  void Cancel() ABSL_LOCKS_EXCLUDED(mu_);
  bool cancelled() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class Client;
  // Registers the running call's context (nullptr: the call ended). Returns false when
  // already cancelled.
  bool Attach(grpc::ClientContext* context) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

struct TapStreamOptions {
  // Records per ParseTapStreamRequest (at most the server's batch limit).
  size_t chunk_records = 1000;
  // Chunks written and not yet answered (records_processed) before the writer waits.
  size_t max_unacked_chunks = 4;
  // Deadline of the whole stream; infinite: none.
  absl::Duration timeout = absl::InfiniteDuration();
  // The fields of the results (ParseTapStreamRequest.view of every chunk).
  v1::TapResultView view = v1::TAP_RESULT_VIEW_UNSPECIFIED;
};

class Client {
 public:
  // Connects lazily (the first call connects). INVALID_ARGUMENT for an empty server address,
  // a TLS file that cannot be read, a certificate without its key (or the reverse), or
  // tls_server_name without TLS.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);
  // A client over the given stubs instead of a channel (tests: the gMock stubs of
  // desfired/v1/*_mock.grpc.pb.h). `options` supply the deadline, token and retries; the
  // server and TLS options are not used. Without `taps`, TapService calls fail with
  // FAILED_PRECONDITION.
  static std::unique_ptr<Client> CreateWithStubs(
      ClientOptions options, std::unique_ptr<v1::CardService::StubInterface> card,
      std::unique_ptr<v1::TapService::StubInterface> taps = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientOptions& options() const { return options_; }

  // --- CardService: readers and cards (never retried) ---------------------------------------
  absl::StatusOr<v1::ListReadersResponse> ListReaders(const v1::ListReadersRequest& request = {});
  absl::StatusOr<v1::GetCardInfoResponse> GetCardInfo(const v1::GetCardInfoRequest& request);
  absl::StatusOr<v1::ListApplicationsResponse> ListApplications(
      const v1::ListApplicationsRequest& request);
  absl::StatusOr<v1::ListFilesResponse> ListFiles(const v1::ListFilesRequest& request);
  absl::StatusOr<v1::GetFileSettingsResponse> GetFileSettings(
      const v1::GetFileSettingsRequest& request);
  absl::StatusOr<v1::VerifyOriginalityResponse> VerifyOriginality(
      const v1::VerifyOriginalityRequest& request);
  absl::StatusOr<v1::ReadDataResponse> ReadData(const v1::ReadDataRequest& request);
  absl::StatusOr<v1::GetValueResponse> GetValue(const v1::GetValueRequest& request);
  absl::StatusOr<v1::ReadRecordsResponse> ReadRecords(const v1::ReadRecordsRequest& request);
  absl::StatusOr<v1::ReadTapLogResponse> ReadTapLog(const v1::ReadTapLogRequest& request);

  // --- CardService: changes (request_id filled when empty; retried on UNAVAILABLE) ----------
  absl::StatusOr<v1::WriteDataResponse> WriteData(v1::WriteDataRequest request);
  absl::StatusOr<v1::CreditResponse> Credit(v1::CreditRequest request);
  absl::StatusOr<v1::DebitResponse> Debit(v1::DebitRequest request);
  absl::StatusOr<v1::LimitedCreditResponse> LimitedCredit(v1::LimitedCreditRequest request);
  absl::StatusOr<v1::WriteRecordResponse> WriteRecord(v1::WriteRecordRequest request);
  absl::StatusOr<v1::ClearRecordFileResponse> ClearRecordFile(v1::ClearRecordFileRequest request);
  absl::StatusOr<v1::CommitTransactionResponse> CommitTransaction(
      v1::CommitTransactionRequest request);
  absl::StatusOr<v1::AbortTransactionResponse> AbortTransaction(
      v1::AbortTransactionRequest request);
  absl::StatusOr<v1::FormatCardResponse> FormatCard(v1::FormatCardRequest request);
  absl::StatusOr<v1::CreateApplicationResponse> CreateApplication(
      v1::CreateApplicationRequest request);
  absl::StatusOr<v1::DeleteApplicationResponse> DeleteApplication(
      v1::DeleteApplicationRequest request);
  absl::StatusOr<v1::CreateFileResponse> CreateFile(v1::CreateFileRequest request);
  absl::StatusOr<v1::ChangeFileSettingsResponse> ChangeFileSettings(
      v1::ChangeFileSettingsRequest request);
  absl::StatusOr<v1::DeleteFileResponse> DeleteFile(v1::DeleteFileRequest request);
  absl::StatusOr<v1::ChangeKeyResponse> ChangeKey(v1::ChangeKeyRequest request);
  absl::StatusOr<v1::ChangeKeySettingsResponse> ChangeKeySettings(
      v1::ChangeKeySettingsRequest request);

  // --- CardService: the event stream ---------------------------------------------------------
  // Calls `on_item` for every item of the stream (the snapshot first, unless resuming), on the
  // calling thread, until `on_item` returns false or `cancel` is cancelled (both: OK), or the
  // stream ends with an error (returned, e.g. UNAVAILABLE / SHUTTING_DOWN, RESOURCE_EXHAUSTED /
  // SLOW_CONSUMER, OUT_OF_RANGE / HISTORY_EXPIRED). `timeout` bounds the whole stream
  // (infinite: none; the stream then ends with DEADLINE_EXCEEDED). `cancel` is borrowed and
  // must outlive the call. Not retried: resume with resume_after_sequence.
  absl::Status WatchCards(const v1::WatchCardsRequest& request,
                          const std::function<bool(const v1::WatchCardsResponse&)>& on_item,
                          CallCancellation* cancel = nullptr,
                          absl::Duration timeout = absl::InfiniteDuration());

  // --- TapService ------------------------------------------------------------------------------
  absl::StatusOr<v1::ParseTapsResponse> ParseTaps(const v1::ParseTapsRequest& request);
  // SUN messages verified with the server's keys (never retried; a read).
  absl::StatusOr<v1::VerifySunResponse> VerifySun(const v1::VerifySunRequest& request);
  // VerifySunStream: the chunks one after the other, each answered (`on_results`, in order)
  // before the next is written; returns the stream's counts (the last response). No retry.
  absl::StatusOr<v1::VerifySunResponse> VerifySunStream(
      const std::vector<v1::VerifySunRequest>& chunks,
      const std::function<void(const v1::VerifySunResponse&)>& on_results);

  // Streams records through ParseTapStream with bounded memory. `next` is called from a writer
  // thread of this call: it fills *input and returns true, returns false at the end of the
  // input, or fails (the call is cancelled and returns that error). `on_results` is called on
  // the calling thread, in order, with each chunk's response (results and records_processed).
  // Returns the summary of the whole stream (the server's last message). With `cancel`
  // cancelled: CANCELLED.
  absl::StatusOr<v1::TapSummary> ParseTapStream(
      const std::function<absl::StatusOr<bool>(v1::TapInput* input)>& next,
      const std::function<void(const v1::ParseTapStreamResponse&)>& on_results,
      const TapStreamOptions& stream_options = {}, CallCancellation* cancel = nullptr);

 private:
  struct Stubs;
  Client(ClientOptions options, std::unique_ptr<Stubs> stubs);

  // Sets the deadline (when finite) and the authorization metadata on `context`.
  void Prepare(grpc::ClientContext* context, absl::Duration timeout) const;
  template <typename Response, typename Request, typename Method>
  absl::StatusOr<Response> Unary(Method method, const Request& request);
  template <typename Response, typename Request, typename Method>
  absl::StatusOr<Response> Mutation(Method method, Request request);

  const ClientOptions options_;
  const std::unique_ptr<Stubs> stubs_;
};

}  // namespace desfired::client

#endif  // DESFIRED_CLIENT_DESFIRED_CLIENT_H_
