#include "server/readers/card_session.h"

#include <utility>

#include "absl/time/clock.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/util/status_macros.h"

namespace desfired::server {
namespace {

bool CardOrServiceGone(const absl::Status& status) {
  const std::optional<std::string> reason = apdu::GetReason(status);
  return reason == std::string(apdu::kReasonCardRemoved) ||
         reason == std::string(pcsc::kReasonPcscUnavailable) ||
         reason == std::string(pcsc::kReasonReaderNotFound);
}

// A job refused by the expected-UID guard: the card on the reader is another one, and nothing
// beyond identification (FF CA) may be sent to it — not even AbortTransaction.
bool IsCardMismatch(const absl::Status& status) {
  return apdu::GetReason(status) == std::string(apdu::kReasonCardMismatch);
}

bool IsReaderBusy(const absl::Status& status) {
  return apdu::GetReason(status) == std::string(pcsc::kReasonReaderBusy);
}

constexpr int kBusyRetries = 50;
constexpr absl::Duration kBusyBackoff = absl::Milliseconds(20);

}  // namespace

absl::StatusOr<Bytes> CheckedTransport::Transmit(ByteSpan command) {
  if (check_) DESFIRED_RETURN_IF_ERROR(check_());
  if (!observer_) return inner_.Transmit(command);
  const absl::Time start = absl::Now();
  absl::StatusOr<Bytes> reply = inner_.Transmit(command);
  observer_(absl::Now() - start, reply.ok());
  return reply;
}

CardSession::~CardSession() {
  // Shutting down: a change left open with defer_commit is aborted, never left for the card's
  // next user to commit.
  if (card_ && card_context_.session.pending) (void)card_->AbortTransaction();
  Disconnect();
}

void CardSession::Disconnect() {
  card_context_.session.Reset();
  card_context_.uid.clear();
  card_context_.atr.clear();
  card_.reset();
  transport_.reset();
  pcsc_card_.reset();
}

void CardSession::ReleaseIfCardGone() {
  if (pcsc_card_ && !pcsc_card_->Atr().ok()) Disconnect();
}

absl::Status CardSession::Connect() {
  if (!context_) {
    DESFIRED_ASSIGN_OR_RETURN(context_, pcsc::PcscContext::Create());
  }
  DESFIRED_ASSIGN_OR_RETURN(pcsc_card_, context_->Connect(reader_));
  transport_ = std::make_unique<CheckedTransport>(*pcsc_card_);
  if (options_.on_apdu) {
    transport_->set_observer(
        [this](absl::Duration elapsed, bool ok) { options_.on_apdu(reader_, elapsed, ok); });
  }
  card_ = std::make_unique<desfire::DesfireCard>(*transport_);
  return absl::OkStatus();
}

absl::Status CardSession::ConnectWithRetry(const JobContext<CardSession>& job) {
  // Another program (the reader monitor reading the UID of a card just inserted, for one) may
  // hold the card for a moment: retry a busy reader while the job is still wanted.
  absl::Status connected = Connect();
  for (int attempt = 0; !connected.ok() && IsReaderBusy(connected) && attempt < kBusyRetries;
       ++attempt) {
    absl::SleepFor(kBusyBackoff);
    DESFIRED_RETURN_IF_ERROR(job.CheckAlive());
    connected = Connect();
  }
  return connected;
}

absl::Status CardSession::Identify() {
  absl::StatusOr<Bytes> atr = pcsc_card_->Atr();
  absl::StatusOr<Bytes> uid = atr.ok() ? pcsc_card_->Uid() : atr.status();
  if (!uid.ok()) {
    Disconnect();
    return uid.status();
  }
  card_context_.uid = *std::move(uid);
  card_context_.atr = *std::move(atr);
  return absl::OkStatus();
}

absl::StatusOr<cardops::CardContext*> CardSession::Begin(const JobContext<CardSession>& job,
                                                         ByteSpan expected_uid) {
  DESFIRED_RETURN_IF_ERROR(job.CheckAlive());
  // The UID a request expects is not the one read when this connection was made: the card may
  // have been swapped since. Ask pcscd (a connection whose card left or was reset is replaced)
  // and read the UID again, so that the guard compares with the card on the reader now.
  // (A connection that fails to identify is dropped: a new one is made below.)
  if (pcsc_card_ && !expected_uid.empty() && expected_uid != ByteSpan(card_context_.uid)) {
    (void)Identify();
  }
  if (!pcsc_card_) {
    DESFIRED_RETURN_IF_ERROR(ConnectWithRetry(job));
    DESFIRED_RETURN_IF_ERROR(Identify());
  }
  transport_->set_check([&job] { return job.CheckAlive(); });
  card_context_.card = card_.get();
  card_context_.reader = reader_;
  // A session authenticated with a key a reload has replaced since is not continued (unless a
  // change waits in it for CommitTransaction): the next operation authenticates again, with
  // the key's value now. The generation is read first: a reload in between is seen next time.
  const uint64_t generation = options_.keys != nullptr ? options_.keys->generation() : 0;
  if (generation != keys_generation_ && !card_context_.session.pending) {
    card_context_.session.Reset();
  }
  keys_generation_ = generation;
  job_keys_ = options_.keys != nullptr ? options_.keys->Current() : nullptr;
  job_taps_ = options_.taps;
  job_taps_.keys = job_keys_.get();
  card_context_.keys = job_keys_.get();
  card_context_.taps = &job_taps_;
  card_context_.originality_keys = options_.originality_keys.get();
  card_context_.check_alive = [&job] { return job.CheckAlive(); };
  return &card_context_;
}

void CardSession::AfterJob(const absl::Status& status) {
  card_context_.check_alive = nullptr;
  card_context_.before_commit = nullptr;
  card_context_.keys = nullptr;
  card_context_.taps = nullptr;
  job_taps_.keys = nullptr;
  job_keys_.reset();
  if (transport_) transport_->set_check(nullptr);
  if (!card_) return;
  if (status.ok() || IsCardMismatch(status)) return;
  if (CardOrServiceGone(status)) {
    // The card rolls back by itself when it leaves the field.
    Disconnect();
    return;
  }
  // The job may have left changes pending (a deadline or a cancellation between the change
  // and the commit): abort them so that no later job commits them.
  absl::Status aborted = card_->AbortTransaction();
  card_context_.session.Reset();
  if (!aborted.ok() && CardOrServiceGone(aborted)) Disconnect();
}

}  // namespace desfired::server
