// The JSON endpoints of the HTTP API: each calls the gRPC service method of the same name
// through the in-process channel (http_server.h) and answers its proto3 JSON.
#include <algorithm>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "desfired/v1/card.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "proto/convert/status_convert.h"
#include "server/http/http_error.h"
#include "server/http/http_server.h"

namespace desfired::server::http {
namespace {

constexpr int kDefaultLedgerRows = 50;
constexpr int kMaxLedgerRows = 1000;
// How old the chain's status may be when the ledger has not moved (Ledger::VerifyRecent).
constexpr absl::Duration kVerifyMaxAge = absl::Seconds(10);

// The answer of a unary call: its JSON, or its error in the API's shape.
template <typename Response>
void Answer(Exchange& ex, const grpc::Status& status, const Response& response) {
  if (!status.ok()) return ex.Fail(FromGrpcStatus(status));
  ex.RespondJson(response);
}

}  // namespace

void HandleHealthz(HttpServer& server, Exchange& ex) {
  auto health = grpc::health::v1::Health::NewStub(server.deps().channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = health->Check(&context, request, &response);
  if (!status.ok()) return ex.Fail(FromGrpcStatus(status));
  const bool serving = response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  ex.Respond(serving ? 200 : 503, "application/json",
             absl::StrCat("{\"status\":\"", serving ? "SERVING" : "NOT_SERVING", "\"}"));
}

void HandleReaders(HttpServer& server, Exchange& ex) {
  auto cards = v1::CardService::NewStub(server.deps().channel);
  v1::ListReadersResponse response;
  const grpc::Status status =
      cards->ListReaders(CallContext(*ex.caller).get(), v1::ListReadersRequest(), &response);
  Answer(ex, status, response);
}

void HandleCard(HttpServer& server, Exchange& ex, const std::string& reader) {
  auto cards = v1::CardService::NewStub(server.deps().channel);
  v1::GetCardInfoRequest request;
  request.mutable_target()->set_reader(reader);
  v1::GetCardInfoResponse response;
  const grpc::Status status = cards->GetCardInfo(CallContext(*ex.caller).get(), request, &response);
  Answer(ex, status, response);
}

void HandleLedgerRecent(HttpServer& server, Exchange& ex) {
  // Not a gRPC method: the role of a method missing from MethodRoles() (admin) applies.
  if (absl::Status s = Authorizer::CheckRole(ex.caller->principal, "LedgerRecent"); !s.ok()) {
    return ex.Fail(s);
  }
  int limit = kDefaultLedgerRows;
  for (const std::string& value : QueryValues(ex.query, "limit")) {
    if (!absl::SimpleAtoi(value, &limit) || limit < 1 || limit > kMaxLedgerRows) {
      return ex.Fail(HttpError(absl::StatusCode::kInvalidArgument, "INVALID_ARGUMENT",
                               absl::StrCat("limit must be 1..", kMaxLedgerRows),
                               {{"field", "limit"}}));
    }
  }
  ledger::Ledger* ledger = server.deps().ledger;
  if (ledger == nullptr) {
    return ex.Fail(HttpError(absl::StatusCode::kNotFound, "NOT_FOUND",
                             "desfired runs without an audit ledger (--data_dir is empty)"));
  }
  // The newest rows (newest first, read without the older ones) in the export's JSON, and
  // the chain's status from a verify shared by the requests until the ledger moves on.
  // The export's lines (one JSON object each, no raw newline inside) become the array's
  // elements where they stand.
  std::ostringstream rows;
  rows << "{\"rows\":[";
  if (absl::Status s = ledger->ExportNewest(rows, ledger::ExportFormat::kJsonLines, limit);
      !s.ok()) {
    return ex.Fail(s);
  }
  std::string body = rows.str();
  std::replace(body.begin(), body.end(), '\n', ',');
  if (body.back() == ',') body.pop_back();
  const ledger::VerifyResult verify = ledger->VerifyRecent(kMaxLedgerRows, kVerifyMaxAge);
  absl::StrAppend(&body, "],\"verify\":{\"ok\":", verify.ok ? "true" : "false",
                  ",\"rowsChecked\":", verify.rows, ",\"headHash\":\"", verify.head_hash, "\"");
  if (!verify.ok) {
    absl::StrAppend(&body, ",\"badSeq\":", verify.bad_seq,
                    ",\"readError\":", verify.read_error ? "true" : "false");
  }
  body += "}}";
  ex.Respond(200, "application/json", body);
}

void HandleMetrics(HttpServer& server, Exchange& ex) {
  // Any caller may read them (the Prometheus endpoint serves the same without a token).
  const Metrics* metrics = server.deps().metrics;
  if (metrics == nullptr) {
    return ex.Fail(HttpError(absl::StatusCode::kNotFound, "NOT_FOUND", "no metrics here"));
  }
  ex.Respond(200, "text/plain; version=0.0.4; charset=utf-8", metrics->Serialize());
}

}  // namespace desfired::server::http
