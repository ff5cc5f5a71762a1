#include "server/audit/change_recorder.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/card.h"
#include "core/util/echo.h"
#include "core/util/status_macros.h"
#include "desfired/v1/card.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "proto/convert/status_convert.h"
#include "server/rpc/card_ops.h"

namespace desfired::server {
namespace {

// Reasons (proto/desfired/v1/errors.proto).
constexpr absl::string_view kReasonRequestIdReused = "REQUEST_ID_REUSED";
constexpr absl::string_view kReasonRequestInProgress = "REQUEST_IN_PROGRESS";
constexpr absl::string_view kReasonOutcomeUnknown = "OUTCOME_UNKNOWN";
constexpr absl::string_view kReasonLedgerUnavailable = "LEDGER_UNAVAILABLE";

// RECONCILED outcomes.
constexpr absl::string_view kCommitted = "COMMITTED";
constexpr absl::string_view kNotCommitted = "NOT_COMMITTED";
constexpr absl::string_view kConflict = "CONFLICT";
constexpr absl::string_view kUnknown = "UNKNOWN";

absl::Status LedgerUnavailable(const absl::Status& cause) {
  return apdu::WithReason(
      absl::UnavailableError(absl::StrCat("the audit ledger cannot record the change, so it was "
                                          "not made: ",
                                          cause.message())),
      kReasonLedgerUnavailable);
}

absl::Status OutcomeUnknown(const ledger::Row& row, absl::string_view why) {
  absl::Status s = apdu::WithReason(
      absl::FailedPreconditionError(absl::StrFormat(
          "request_id '%s': an earlier attempt (ledger row %d) %s", row.request_id, row.seq, why)),
      kReasonOutcomeUnknown);
  s = apdu::WithCommitState(std::move(s), apdu::CommitState::kUnknown);
  s = apdu::WithErrorMetadata(std::move(s), apdu::kMetadataUid, row.uid);
  return apdu::WithErrorMetadata(std::move(s), apdu::kMetadataLedgerSeq, absl::StrCat(row.seq));
}

// The GetValue that reads back the value file a PENDING change of type `Request` named.
template <typename Request>
absl::StatusOr<v1::GetValueRequest> ReadBackAs(const ledger::Row& pending,
                                               absl::string_view reader) {
  Request change;
  if (!change.ParseFromString(pending.payload)) {
    return absl::DataLossError(absl::StrCat("ledger row ", pending.seq, ": bad request payload"));
  }
  v1::GetValueRequest get;
  get.mutable_target()->set_reader(std::string(reader));
  get.set_aid(change.aid());
  get.set_file_no(change.file_no());
  if (change.has_auth()) *get.mutable_auth() = change.auth();
  get.set_communication_mode(change.communication_mode());
  return get;
}

absl::StatusOr<v1::GetValueRequest> ReadBackRequest(const ledger::Row& pending,
                                                    absl::string_view reader) {
  if (pending.method == "Debit") return ReadBackAs<v1::DebitRequest>(pending, reader);
  if (pending.method == "Credit") return ReadBackAs<v1::CreditRequest>(pending, reader);
  if (pending.method == "LimitedCredit") {
    return ReadBackAs<v1::LimitedCreditRequest>(pending, reader);
  }
  return absl::InvalidArgumentError(absl::StrCat(pending.method, " is not a value change"));
}

// The serialized response a committed value change of type `Response` would have had.
template <typename Response>
std::string CommittedAs(const ledger::Row& pending, int32_t after) {
  Response r;
  v1::ValueChange& change = *r.mutable_change();
  change.set_committed(true);
  if (pending.value_before.has_value()) {
    change.set_value_before(static_cast<int32_t>(*pending.value_before));
  }
  change.set_value_after(after);
  return r.SerializeAsString();
}

std::string CommittedResponse(const ledger::Row& pending, int32_t after) {
  if (pending.method == "Debit") return CommittedAs<v1::DebitResponse>(pending, after);
  if (pending.method == "Credit") return CommittedAs<v1::CreditResponse>(pending, after);
  return CommittedAs<v1::LimitedCreditResponse>(pending, after);
}

// A RECONCILED row settling `pending`: its identity, and the value before it recorded.
ledger::Row SettlingRow(const ledger::Row& pending) {
  ledger::Row row;
  row.event = ledger::Event::kReconciled;
  row.request_id = pending.request_id;
  row.request_hash = pending.request_hash;
  row.caller = pending.caller;
  row.method = pending.method;
  row.uid = pending.uid;
  row.reader = pending.reader;
  row.aid = pending.aid;
  row.file_no = pending.file_no;
  row.amount = pending.amount;
  row.value_before = pending.value_before;
  row.reader_id = pending.reader_id;
  row.pending_seq = pending.seq;
  return row;
}

bool ValueMethod(absl::string_view method) {
  return method == "Debit" || method == "Credit" || method == "LimitedCredit";
}

// A PENDING row that settling can decide from the card (Recover keeps it for its card).
bool ReadableBack(const ledger::Row& pending) {
  return ValueMethod(pending.method) && pending.value_before.has_value() &&
         pending.value_after.has_value();
}

// How durable a DONE row must be when the call answers (docs/ledger.md, "Durability"). Its
// loss with the machine is made good without it when its PENDING row is settled from the card
// (a value change read back), or when there is no PENDING row (the change was refused before
// the card, or left open with defer_commit, which the card rolls back when it loses power):
// then it is synced with the next row. Otherwise (the outcome of a change that cannot be read
// back) it is synced before the answer leaves.
ledger::Durability DoneDurability(const std::optional<ledger::Row>& pending) {
  return !pending.has_value() || ReadableBack(*pending) ? ledger::Durability::kDeferred
                                                        : ledger::Durability::kSynced;
}

}  // namespace

std::string RequestHash(absl::string_view method, const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  if (const google::protobuf::FieldDescriptor* id =
          copy->GetDescriptor()->FindFieldByName("request_id");
      id != nullptr) {
    copy->GetReflection()->ClearField(copy.get(), id);
  }
  std::string bytes(method);
  bytes.push_back('\0');
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    copy->SerializeToCodedStream(&out);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  return HexEncode(ByteSpan(digest, length));
}

// --- ChangeAttempt ------------------------------------------------------------------------------

ChangeAttempt::~ChangeAttempt() { ReleaseClaim(); }

void ChangeAttempt::ReleaseClaim() {
  if (!claimed_) return;
  claimed_ = false;
  recorder_.Release(request_.request_id);
}

absl::StatusOr<std::optional<std::string>> ChangeAttempt::SettleEarlier(cardops::CardContext& ctx) {
  if (!earlier_.has_value()) return std::optional<std::string>();
  ledger::Row settled;
  if (recorder_.TakeUnsettled(earlier_->seq)) {
    absl::StatusOr<ledger::Row> result = recorder_.Settle(ctx, *earlier_);
    if (!result.ok()) {
      recorder_.AddUnsettled(*earlier_);
      return result.status();
    }
    settled = *std::move(result);
  } else {
    // Settled meanwhile (the card was seen on a reader): its newest row says how.
    DESFIRED_ASSIGN_OR_RETURN(std::optional<ledger::Row> latest,
                              recorder_.ledger_->Latest(request_.request_id));
    if (!latest.has_value() || latest->event != ledger::Event::kReconciled) {
      return OutcomeUnknown(*earlier_, "is still being settled; retry");
    }
    settled = *std::move(latest);
  }
  earlier_.reset();
  if (settled.outcome == kCommitted) {
    done_ = true;  // answered from the settled attempt: nothing more to record
    ledger_seq_ = settled.seq;
    ReleaseClaim();
    return std::optional<std::string>(settled.payload);
  }
  if (settled.outcome == kNotCommitted) return std::optional<std::string>();
  return OutcomeUnknown(settled, "cannot be settled automatically (" + settled.outcome +
                                     "): check the card and the ledger, then make the change "
                                     "again with a new request_id if it is still wanted");
}

ledger::Row ChangeAttempt::RowOf(ledger::Event event, const cardops::CardContext* ctx) const {
  ledger::Row row;
  row.event = event;
  row.request_id = request_.request_id;
  row.request_hash = request_.request_hash;
  row.caller = request_.caller;
  row.method = request_.method;
  if (ctx != nullptr) row.uid = HexEncode(ctx->uid);
  row.reader = ctx != nullptr ? ctx->reader : request_.reader;
  row.aid = request_.aid;
  row.file_no = request_.file_no;
  row.amount = request_.amount;
  row.reader_id = request_.reader_id;
  return row;
}

absl::Status ChangeAttempt::Pending(const cardops::CardContext& ctx,
                                    const cardops::PendingValue* value) {
  ledger::Row row = RowOf(ledger::Event::kPending, &ctx);
  if (value != nullptr) {
    if (value->value_before.has_value()) row.value_before = *value->value_before;
    if (value->expected_after.has_value()) row.value_after = *value->expected_after;
  }
  row.payload = request_.payload;
  absl::StatusOr<ledger::Row> stored = recorder_.Append(std::move(row));
  if (!stored.ok()) return LedgerUnavailable(stored.status());
  pending_ = *std::move(stored);
  if (value != nullptr && recorder_.options_.crash_before_commit) ::_exit(86);
  return absl::OkStatus();
}

void ChangeAttempt::Done(const cardops::CardContext* ctx, const absl::Status& status,
                         const std::string& response, const v1::ValueChange* change) {
  if (done_) return;
  done_ = true;
  // The outcome is recorded (or deliberately not): a retry may come in now — before this call's
  // answer has even left — and finds the row. (Released here, not when the last reference to
  // the attempt goes, which the worker may still hold after the answer went out.)
  absl::Cleanup release = [this] { ReleaseClaim(); };
  if (earlier_.has_value()) return;  // the earlier attempt's PENDING row stays the newest
  if (status.ok() && recorder_.options_.crash_after_commit) ::_exit(86);
  if (!status.ok() && pending_.has_value() &&
      apdu::GetCommitState(status) == apdu::CommitState::kUnknown) {
    // The commit went out and its answer was lost: settled when the card is seen again.
    recorder_.AddUnsettled(*pending_);
    ledger_seq_ = pending_->seq;
    return;
  }
  ledger::Row row = RowOf(ledger::Event::kDone, ctx);
  row.pending_seq = pending_.has_value() ? pending_->seq : 0;
  if (status.ok()) {
    row.outcome = "OK";
    row.payload = response;
    if (change != nullptr) {
      if (change->has_value_before()) row.value_before = change->value_before();
      if (change->has_value_after()) row.value_after = change->value_after();
      if (!change->committed()) row.commit_state = "NOT_COMMITTED";
      if (change->has_transaction_mac()) {
        row.tmc = change->transaction_mac().tmc();
        row.tmv = HexEncode(AsBytes(change->transaction_mac().tmv()));
      }
    }
  } else {
    row.outcome = std::string(absl::StatusCodeToString(status.code()));
    row.reason = ReasonOf(status);
    if (std::optional<apdu::CommitState> state = apdu::GetCommitState(status)) {
      row.commit_state = std::string(apdu::CommitStateName(*state));
    }
    row.detail = std::string(status.message());
  }
  const absl::StatusOr<ledger::Row> written =
      recorder_.Append(std::move(row), DoneDurability(pending_));
  if (written.ok() && recorder_.options_.crash_after_done) ::_exit(86);
  if (written.ok()) {
    ledger_seq_ = written->seq;
  } else if (pending_.has_value()) {
    // The outcome could not be written: the PENDING row stays, settled at the next contact.
    recorder_.AddUnsettled(*pending_);
    ledger_seq_ = pending_->seq;
  }
}

absl::Status ChangeAttempt::Refused(absl::Status status) {
  if (done_ || status.ok()) return status;
  if (!apdu::GetCommitState(status).has_value()) {
    status = apdu::WithCommitState(std::move(status), earlier_.has_value()
                                                          ? apdu::CommitState::kUnknown
                                                          : apdu::CommitState::kNotCommitted);
  }
  Done(nullptr, status, "");
  return status;
}

// --- ChangeRecorder -----------------------------------------------------------------------------

ChangeRecorder::ChangeRecorder(std::unique_ptr<ledger::Ledger> ledger, Options options)
    : ledger_(std::move(ledger)), options_(std::move(options)) {}

absl::StatusOr<ledger::Row> ChangeRecorder::Append(ledger::Row row, ledger::Durability durability) {
  const std::string event(ledger::EventName(row.event));
  absl::StatusOr<ledger::Row> stored = ledger_->Append(std::move(row), durability);
  if (options_.on_write) options_.on_write(stored.ok() ? absl::string_view(event) : "ERROR");
  return stored;
}

absl::StatusOr<size_t> ChangeRecorder::Recover() {
  DESFIRED_ASSIGN_OR_RETURN(std::vector<ledger::Row> rows, ledger_->Unresolved());
  size_t waiting = 0;
  for (const ledger::Row& row : rows) {
    if (!ReadableBack(row)) {
      DESFIRED_RETURN_IF_ERROR(
          SettleUnknown(row,
                        "the server stopped while making this change; it cannot be read "
                        "back from the card")
              .status());
      continue;
    }
    AddUnsettled(row);
    ++waiting;
  }
  return waiting;
}

absl::StatusOr<std::unique_ptr<ChangeAttempt>> ChangeRecorder::Begin(ChangeRequest request) {
  std::unique_ptr<ChangeAttempt> attempt(new ChangeAttempt(*this, std::move(request)));
  const ChangeRequest& r = attempt->request_;
  if (r.request_id.empty()) return attempt;
  {
    absl::MutexLock lock(&mu_);
    if (!in_flight_.insert(r.request_id).second) {
      return apdu::WithReason(
          absl::AbortedError(absl::StrCat("request_id '", Echo(r.request_id),
                                          "': a call with it is running; retry when it is done")),
          kReasonRequestInProgress);
    }
  }
  attempt->claimed_ = true;
  absl::StatusOr<std::optional<ledger::Row>> latest = ledger_->Latest(r.request_id);
  if (!latest.ok()) return LedgerUnavailable(latest.status());
  if (!latest->has_value()) return attempt;
  const ledger::Row& row = **latest;
  if (row.request_hash != r.request_hash) {
    return apdu::WithReason(
        absl::FailedPreconditionError(absl::StrFormat(
            "request_id '%s' was used for a different request (%s, ledger row %d); use a new "
            "request_id for a new change",
            r.request_id, row.method, row.seq)),
        kReasonRequestIdReused);
  }
  switch (row.event) {
    case ledger::Event::kDone:
      if (row.outcome == "OK") {
        attempt->replay_ = row.payload;
        attempt->ledger_seq_ = row.seq;
      }
      break;  // an error: a new attempt
    case ledger::Event::kReconciled:
      if (row.outcome == kCommitted) {
        attempt->replay_ = row.payload;
        attempt->ledger_seq_ = row.seq;
      } else if (row.outcome != kNotCommitted) {
        return OutcomeUnknown(row, "cannot be settled automatically (" + row.outcome +
                                       "): check the card and the ledger, then make the change "
                                       "again with a new request_id if it is still wanted");
      }
      break;
    case ledger::Event::kPending:
      attempt->earlier_ = row;
      break;
    case ledger::Event::kTaps:
    case ledger::Event::kRecovered:
      break;
  }
  return attempt;
}

bool ChangeRecorder::HasUnsettled(ByteSpan uid) const {
  const std::string hex = HexEncode(uid);
  absl::MutexLock lock(&mu_);
  for (const auto& [seq, row] : unsettled_) {
    if (row.uid == hex) return true;
  }
  return false;
}

absl::StatusOr<size_t> ChangeRecorder::SettleCard(cardops::CardContext& ctx) {
  const std::string hex = HexEncode(ctx.uid);
  std::vector<ledger::Row> rows;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [seq, row] : unsettled_) {
      if (row.uid == hex) rows.push_back(row);
    }
  }
  size_t settled = 0;
  for (const ledger::Row& row : rows) {
    if (!TakeUnsettled(row.seq)) continue;
    absl::StatusOr<ledger::Row> result = Settle(ctx, row);
    if (!result.ok()) {
      AddUnsettled(row);
      return result.status();
    }
    ++settled;
  }
  return settled;
}

absl::StatusOr<ledger::Row> ChangeRecorder::Settle(cardops::CardContext& ctx,
                                                   const ledger::Row& pending) {
  if (HexEncode(ctx.uid) != pending.uid) {
    return OutcomeUnknown(pending, absl::StrCat("was made on card ", pending.uid,
                                                ", which must be on the reader to settle it"));
  }
  if (!ValueMethod(pending.method) || !pending.value_before.has_value() ||
      !pending.value_after.has_value()) {
    return SettleUnknown(pending, "its outcome cannot be read back from the card");
  }
  DESFIRED_ASSIGN_OR_RETURN(v1::GetValueRequest get, ReadBackRequest(pending, ctx.reader));
  DESFIRED_ASSIGN_OR_RETURN(v1::GetValueResponse now, GetValue(ctx, get));
  ledger::Row row = SettlingRow(pending);
  row.reader = ctx.reader;
  row.value_after = now.value();
  if (now.value() == *pending.value_after) {
    row.outcome = std::string(kCommitted);
    row.detail = "the card holds the value expected after the change";
    row.payload = CommittedResponse(pending, now.value());
  } else if (now.value() == *pending.value_before) {
    row.outcome = std::string(kNotCommitted);
    row.commit_state = "NOT_COMMITTED";
    row.detail = "the card holds the value from before the change";
  } else {
    row.outcome = std::string(kConflict);
    row.commit_state = "UNKNOWN";
    row.detail = absl::StrFormat(
        "the card holds %d, neither %d (before) nor %d (expected after): changed elsewhere",
        now.value(), *pending.value_before, *pending.value_after);
  }
  return Append(std::move(row));
}

absl::StatusOr<ledger::Row> ChangeRecorder::SettleUnknown(const ledger::Row& pending,
                                                          absl::string_view why) {
  ledger::Row row = SettlingRow(pending);
  row.outcome = std::string(kUnknown);
  row.commit_state = "UNKNOWN";
  row.detail = std::string(why);
  return Append(std::move(row));
}

void ChangeRecorder::AddUnsettled(const ledger::Row& row) {
  absl::MutexLock lock(&mu_);
  unsettled_[row.seq] = row;
}

bool ChangeRecorder::TakeUnsettled(int64_t seq) {
  absl::MutexLock lock(&mu_);
  return unsettled_.erase(seq) > 0;
}

void ChangeRecorder::Release(const std::string& request_id) {
  absl::MutexLock lock(&mu_);
  in_flight_.erase(request_id);
}

}  // namespace desfired::server
