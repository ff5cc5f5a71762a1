// CardSession: what one reader's worker thread owns — the PC/SC context, the connection to the
// card on the reader and the DesfireCard over it. Only that thread touches it.
//
//   ReaderWorker<CardSession> worker(reader, std::make_unique<CardSession>(reader, options));
//   worker.Submit({.body = [](JobContext<CardSession>& job) -> absl::Status {
//     DESFIRED_ASSIGN_OR_RETURN(cardops::CardContext * card, job.resource().Begin(job));
//     ...   // card ops (core/cardops); every APDU first checks the job is still wanted
//   }, ...});
//
// Begin() connects exclusively when there is no connection and then reads the ATR (SCardStatus)
// and the UID (FF CA) once; while the connection is held, a job sends nothing before its own
// APDUs. A card swap is still caught: pcscd marks a connection whose card left or was reset,
// and refuses every later SCardTransmit on it (SCARD_W_REMOVED_CARD / SCARD_W_RESET_CARD →
// CARD_REMOVED), so no APDU of a job reaches another card than the one whose UID it was given;
// the job fails with CARD_REMOVED and AfterJob drops the connection (the reader monitor's
// CARD_REMOVED drops it too: ReleaseIfCardGone). A request whose expected UID is not the one
// read on the connection makes Begin ask again (SCardStatus, FF CA; a new connection when the
// card left), so the guard compares with the card on the reader now. (The cost: a job that
// comes after a swap or a pcscd restart, before the reader monitor reported it, fails with
// UNAVAILABLE — CARD_REMOVED or PCSC_UNAVAILABLE — where it used to reconnect; its retry
// connects anew.) Begin arms the job check:
// before every APDU the transport asks the job whether it is still alive (deadline, client
// gone, shutdown), so a job stops between APDUs. AfterJob() (called by the worker after
// every job) sends AbortTransaction when a job failed with the card still there, so nothing
// a failed job changed can be committed by a later one, and drops the connection when the
// card or pcscd went away. A job refused with CARD_MISMATCH (another card than the request's
// expected_uid) sends nothing after the UID read: the card's state, including a transaction
// left open with defer_commit, is untouched.
//
// Thread-compatible: confined to the worker thread.
#ifndef DESFIRED_SERVER_READERS_CARD_SESSION_H_
#define DESFIRED_SERVER_READERS_CARD_SESSION_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/apdu/transport.h"
#include "core/cardops/context.h"
#include "core/desfire/card.h"
#include "core/keys/key_store.h"
#include "core/pcsc/pcsc.h"
#include "core/util/bytes.h"
#include "server/readers/reader_worker.h"
#include "server/security/key_ring.h"

namespace desfired::server {

// A CardTransport that runs a check before every APDU, and tells an observer how long each
// APDU that was sent took and whether the exchange succeeded.
class CheckedTransport final : public apdu::CardTransport {
 public:
  explicit CheckedTransport(apdu::CardTransport& inner) : inner_(inner) {}
  absl::StatusOr<Bytes> Transmit(ByteSpan command) override;
  void set_check(std::function<absl::Status()> check) { check_ = std::move(check); }
  void set_observer(std::function<void(absl::Duration elapsed, bool ok)> observer) {
    observer_ = std::move(observer);
  }

 private:
  apdu::CardTransport& inner_;
  std::function<absl::Status()> check_;
  std::function<void(absl::Duration, bool)> observer_;
};

class CardSession {
 public:
  struct Options {
    // The server's keys; each job uses the store current when it begins (nullptr: no keys).
    const KeyRing* keys = nullptr;  // owned by the server; outlives the session
    tap::TapPipelineConfig taps;    // ReadTapLog parses with this (its keys: the job's store)
    // Called on the worker thread after every APDU exchanged with the card: the reader, the
    // round trip, whether the exchange succeeded (metrics). Optional; must be quick.
    std::function<void(const std::string& reader, absl::Duration elapsed, bool ok)> on_apdu =
        nullptr;
    // VerifyOriginality's extra keys (cardops::CardContext::originality_keys); may be null.
    std::shared_ptr<const std::vector<desfire::OriginalityKey>> originality_keys = nullptr;
  };
  CardSession(std::string reader, Options options)
      : reader_(std::move(reader)), options_(std::move(options)) {}
  ~CardSession();

  // Ready to run card ops for `job`: the connection, the card's UID and ATR, the job check.
  // `expected_uid` (may be empty): the UID the request expects (see the top of the file).
  absl::StatusOr<cardops::CardContext*> Begin(const JobContext<CardSession>& job,
                                              ByteSpan expected_uid = {});
  // Called by ReaderWorker after every job with its status.
  void AfterJob(const absl::Status& status);
  // Drops the connection when its card has left (a job of ReaderRegistry::CardLeft): a
  // connection kept open to a card that left holds the reader exclusively, so the reader
  // monitor could not read the UID of the next card inserted.
  void ReleaseIfCardGone();

 private:
  absl::Status Connect();
  // Connect(), retried while the reader is busy and the job still wanted.
  absl::Status ConnectWithRetry(const JobContext<CardSession>& job);
  // Reads the ATR and the UID of the connected card into card_context_; drops the connection
  // when it cannot.
  absl::Status Identify();
  void Disconnect();

  const std::string reader_;
  const Options options_;
  std::unique_ptr<pcsc::PcscContext> context_;
  std::unique_ptr<pcsc::PcscCard> pcsc_card_;
  std::unique_ptr<CheckedTransport> transport_;
  std::unique_ptr<desfire::DesfireCard> card_;
  cardops::CardContext card_context_;
  // The job's key store and tap configuration (released after the job, so that a store a
  // reload replaced is wiped as soon as no job uses it).
  std::shared_ptr<const keys::KeyStore> job_keys_;
  uint64_t keys_generation_ = 0;  // KeyRing::generation() at the last Begin
  tap::TapPipelineConfig job_taps_;
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_READERS_CARD_SESSION_H_
