// PC/SC reader access over libpcsclite: a context that recovers when pcscd restarts, and a
// CardTransport for one connected card.
//
//   DESFIRED_ASSIGN_OR_RETURN(auto context, PcscContext::Create());
//   DESFIRED_ASSIGN_OR_RETURN(std::vector<std::string> readers, context->ListReaders());
//   DESFIRED_ASSIGN_OR_RETURN(auto card, context->Connect(readers[0]));
//   desfire::Channel channel(*card);          // card is a apdu::CardTransport
//
// A connection shared with other programs protects a multi-frame exchange (0xAF chaining) with
// a transaction, so no foreign APDU lands inside the chain:
//
//   DESFIRED_ASSIGN_OR_RETURN(auto card, context->Connect(reader, ShareMode::kShared));
//   {
//     DESFIRED_ASSIGN_OR_RETURN(PcscTransaction transaction, card->BeginTransaction());
//     ... the chained exchange through *card ...
//   }                                         // SCardEndTransaction(SCARD_LEAVE_CARD)
//
// Error mapping (one table, PcscStatus()):
//   no card: SCARD_E_NO_SMARTCARD → FAILED_PRECONDITION, reason NO_CARD (the reader is empty:
//     SCardConnect found no card). On a card already connected (PcscCard, PcscTransaction:
//     CardStatus()) the same code means the card left during the call → CARD_REMOVED.
//   card gone: a reply of 0 bytes, SCARD_E_NOT_TRANSACTED, SCARD_W_REMOVED_CARD,
//     SCARD_W_RESET_CARD, SCARD_W_UNPOWERED_CARD
//     → UNAVAILABLE, reason CARD_REMOVED
//   service gone (IsServiceGone): SCARD_F_COMM_ERROR, SCARD_E_NO_SERVICE,
//     SCARD_E_SERVICE_STOPPED, SCARD_E_INVALID_HANDLE, SCARD_W_SECURITY_VIOLATION
//     → UNAVAILABLE, reason PCSC_UNAVAILABLE (the context re-establishes itself on the next
//     call). libpcsclite 1.9.9 reports SCARD_W_SECURITY_VIOLATION, not SCARD_F_COMM_ERROR, for
//     a call in progress when pcscd closes the connection cleanly (seen in about half of the
//     runs for an SCardGetStatusChange blocked while pcscd was killed); a polkit refusal looks
//     the same.
//   SCARD_E_UNKNOWN_READER, SCARD_E_NO_READERS_AVAILABLE → NOT_FOUND, reason READER_NOT_FOUND
//   SCARD_E_SHARING_VIOLATION → UNAVAILABLE, reason READER_BUSY
//   SCARD_E_TIMEOUT → DEADLINE_EXCEEDED; SCARD_E_CANCELLED → CANCELLED; others → INTERNAL
//
// The socket of pcscd comes from PCSCLITE_CSOCK_NAME (libpcsclite reads it once per process):
// the caller chooses the backend by setting it before the first context is created.
//
// pcscd restarts: every call on a context (or a card of it) then fails with PCSC_UNAVAILABLE;
// ListReaders and Connect release the context and establish a new one (with back-off) and
// try once more, so the next Connect after pcscd came back works. Cards connected before the
// restart stay dead: connect again.
//
// Thread-compatible: one worker owns a context and the cards connected through it.
#ifndef DESFIRED_CORE_PCSC_PCSC_H_
#define DESFIRED_CORE_PCSC_PCSC_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/apdu/transport.h"
#include "core/util/bytes.h"

namespace desfired::pcsc {

inline constexpr absl::string_view kReasonPcscUnavailable = "PCSC_UNAVAILABLE";
inline constexpr absl::string_view kReasonNoCard = "NO_CARD";
inline constexpr absl::string_view kReasonReaderNotFound = "READER_NOT_FOUND";
inline constexpr absl::string_view kReasonReaderBusy = "READER_BUSY";

// Maps a PC/SC return code (LONG) to a status; OK for SCARD_S_SUCCESS. `what` names the call.
absl::Status PcscStatus(int64_t rv, absl::string_view what);
// PcscStatus for a call on a connected card: SCARD_E_NO_SMARTCARD is CARD_REMOVED there (the
// card was connected, so it left), not NO_CARD.
absl::Status CardStatus(int64_t rv, absl::string_view what);

// True when the PC/SC return code `rv` means pcscd went away: the context must be released
// and established again (the "service gone" row of the table above).
bool IsServiceGone(int64_t rv);

class PcscCard;

// How Connect shares the card with other connections (SCARD_SHARE_*).
enum class ShareMode {
  kExclusive,  // no other connection to the card while this one is open
  kShared,     // others may connect too; guard multi-frame exchanges with BeginTransaction
};

class PcscContext {
 public:
  struct Options {
    // Re-establishing after pcscd went away: attempts and the first back-off (doubling).
    int reconnect_attempts = 8;
    absl::Duration first_backoff = absl::Milliseconds(25);
  };

  static absl::StatusOr<std::unique_ptr<PcscContext>> Create(Options options);
  static absl::StatusOr<std::unique_ptr<PcscContext>> Create() { return Create(Options{}); }
  ~PcscContext();
  PcscContext(const PcscContext&) = delete;
  PcscContext& operator=(const PcscContext&) = delete;

  // Reader names. An empty list when pcscd has no readers. Re-establishes the context once
  // (with back-off) when pcscd restarted.
  absl::StatusOr<std::vector<std::string>> ListReaders();

  // Connects to the card on `reader` (T=1 or T=0), exclusively unless `mode` says otherwise.
  // Re-establishes the context once when pcscd restarted. The card must not outlive the
  // context. Errors: NO_CARD (the reader is empty), CARD_REMOVED (the card left while
  // connecting), READER_NOT_FOUND, READER_BUSY (the card is held
  // exclusively elsewhere, or others are connected and `mode` is exclusive),
  // PCSC_UNAVAILABLE (pcscd did not come back).
  absl::StatusOr<std::unique_ptr<PcscCard>> Connect(const std::string& reader) {
    return Connect(reader, ShareMode::kExclusive);
  }
  absl::StatusOr<std::unique_ptr<PcscCard>> Connect(const std::string& reader, ShareMode mode);

  // Releases the context and establishes a new one, with back-off; UNAVAILABLE when pcscd
  // does not come back within the attempts.
  absl::Status Reestablish();

  uintptr_t handle() const { return context_; }

 private:
  explicit PcscContext(Options options) : options_(options) {}
  absl::Status Establish();
  Options options_;
  uintptr_t context_ = 0;  // SCARDCONTEXT
};

// SCardBeginTransaction .. SCardEndTransaction as a scope. While it is active no other
// connection to the card gets an APDU through: libpcsclite makes their SCardTransmit and
// SCardBeginTransaction wait (it retries) until the transaction ends. Move-only; borrows the card's
// handle, so it must not outlive the PcscCard that made it. Thread-compatible.
class PcscTransaction {
 public:
  PcscTransaction(PcscTransaction&& other) noexcept;
  PcscTransaction& operator=(PcscTransaction&& other) noexcept;
  PcscTransaction(const PcscTransaction&) = delete;
  PcscTransaction& operator=(const PcscTransaction&) = delete;
  ~PcscTransaction();  // End(), its status dropped

  // Ends the transaction now (SCARD_LEAVE_CARD); OK when it already ended. Errors: CARD_REMOVED
  // (the card was removed or reset during the transaction), PCSC_UNAVAILABLE; the transaction
  // counts as ended either way.
  absl::Status End();
  bool active() const { return active_; }

 private:
  friend class PcscCard;
  explicit PcscTransaction(uintptr_t handle) : handle_(handle), active_(true) {}
  uintptr_t handle_ = 0;  // SCARDHANDLE
  bool active_ = false;
};

// A connected card (exclusive or shared); implements the CardTransport seam.
class PcscCard final : public apdu::CardTransport {
 public:
  ~PcscCard() override;  // SCardDisconnect(SCARD_LEAVE_CARD)
  PcscCard(const PcscCard&) = delete;
  PcscCard& operator=(const PcscCard&) = delete;

  // Errors: see the table at the top of this file. A reply of 0 bytes is CARD_REMOVED.
  absl::StatusOr<Bytes> Transmit(ByteSpan command) override;

  // The UID, from GET DATA (FF CA 00 00 00) as the reader answers it.
  absl::StatusOr<Bytes> Uid();
  // The ATR reported by SCardStatus.
  absl::StatusOr<Bytes> Atr();

  // Starts a transaction (SCardBeginTransaction); it ends when the result is destroyed or
  // End() is called. Waits while another connection holds a transaction on the card. Errors:
  // CARD_REMOVED (card removed or reset since the connection was made), PCSC_UNAVAILABLE, and
  // the rest of the table at the top of this file.
  absl::StatusOr<PcscTransaction> BeginTransaction();

  const std::string& reader() const { return reader_; }

 private:
  friend class PcscContext;
  PcscCard(uintptr_t handle, uint64_t protocol, std::string reader)
      : handle_(handle), protocol_(protocol), reader_(std::move(reader)) {}
  uintptr_t handle_;   // SCARDHANDLE
  uint64_t protocol_;  // SCARD_PROTOCOL_T0 / T1
  std::string reader_;
};

}  // namespace desfired::pcsc

#endif  // DESFIRED_CORE_PCSC_PCSC_H_
