// PC/SC reader access over libpcsclite: a context that recovers when pcscd restarts, and a
// CardTransport for one connected card.
//
//   DESFIRED_ASSIGN_OR_RETURN(auto context, PcscContext::Create());
//   DESFIRED_ASSIGN_OR_RETURN(std::vector<std::string> readers, context->ListReaders());
//   DESFIRED_ASSIGN_OR_RETURN(auto card, context->Connect(readers[0]));
//   desfire::Channel channel(*card);          // card is a desfire::CardTransport
//
// Error mapping (one table, PcscStatus()):
//   card gone: a reply of 0 bytes, SCARD_E_NOT_TRANSACTED, SCARD_W_REMOVED_CARD,
//     SCARD_E_NO_SMARTCARD, SCARD_W_RESET_CARD, SCARD_W_UNPOWERED_CARD
//     → UNAVAILABLE, reason CARD_REMOVED
//   service gone: SCARD_F_COMM_ERROR, SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED,
//     SCARD_E_INVALID_HANDLE → UNAVAILABLE, reason PCSC_UNAVAILABLE (the context re-establishes
//     itself on the next call)
//   SCARD_E_UNKNOWN_READER, SCARD_E_NO_READERS_AVAILABLE → NOT_FOUND, reason READER_NOT_FOUND
//   SCARD_E_SHARING_VIOLATION → UNAVAILABLE, reason READER_BUSY
//   SCARD_E_TIMEOUT → DEADLINE_EXCEEDED; SCARD_E_CANCELLED → CANCELLED; others → INTERNAL
//
// The socket of pcscd comes from PCSCLITE_CSOCK_NAME (libpcsclite reads it once per process):
// the caller chooses the backend by setting it before the first context is created.
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
#include "core/desfire/transport.h"
#include "core/util/bytes.h"

namespace desfired::pcsc {

inline constexpr absl::string_view kReasonPcscUnavailable = "PCSC_UNAVAILABLE";
inline constexpr absl::string_view kReasonReaderNotFound = "READER_NOT_FOUND";
inline constexpr absl::string_view kReasonReaderBusy = "READER_BUSY";

// Maps a PC/SC return code (LONG) to a status; OK for SCARD_S_SUCCESS. `what` names the call.
absl::Status PcscStatus(int64_t rv, absl::string_view what);

class PcscCard;

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

  // Connects exclusively to the card on `reader` (T=1 or T=0). Re-establishes the context
  // once when pcscd restarted. The card must not outlive the context.
  absl::StatusOr<std::unique_ptr<PcscCard>> Connect(const std::string& reader);

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

// A card connected exclusively; implements the CardTransport seam.
class PcscCard final : public desfire::CardTransport {
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
