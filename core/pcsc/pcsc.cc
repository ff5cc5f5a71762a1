#include "core/pcsc/pcsc.h"

#include <winscard.h>

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"
#include "core/util/status_macros.h"

namespace desfired::pcsc {
namespace {

constexpr BYTE kGetDataUid[] = {0xFF, 0xCA, 0x00, 0x00, 0x00};
constexpr size_t kMaxReply = 258;  // short APDU: 256 data bytes + SW1 SW2

}  // namespace

absl::Status CardStatus(int64_t rv, absl::string_view what) {
  if (static_cast<LONG>(rv) == SCARD_E_NO_SMARTCARD) {
    return apdu::WithReason(
        absl::UnavailableError(absl::StrFormat("%s: the card left (0x%08X)", what,
                                               static_cast<uint32_t>(SCARD_E_NO_SMARTCARD))),
        apdu::kReasonCardRemoved);
  }
  return PcscStatus(rv, what);
}

bool IsServiceGone(int64_t rv64) {
  const LONG rv = static_cast<LONG>(rv64);
  return rv == SCARD_F_COMM_ERROR || rv == SCARD_E_NO_SERVICE || rv == SCARD_E_SERVICE_STOPPED ||
         rv == SCARD_E_INVALID_HANDLE || rv == SCARD_W_SECURITY_VIOLATION;
}

absl::Status PcscStatus(int64_t rv64, absl::string_view what) {
  const LONG rv = static_cast<LONG>(rv64);
  if (rv == SCARD_S_SUCCESS) return absl::OkStatus();
  const std::string msg =
      absl::StrFormat("%s: %s (0x%08X)", what, pcsc_stringify_error(rv), static_cast<uint32_t>(rv));
  switch (rv) {
    case SCARD_E_NO_SMARTCARD:
      return apdu::WithReason(absl::FailedPreconditionError(msg), kReasonNoCard);
    case SCARD_E_NOT_TRANSACTED:
    case SCARD_W_REMOVED_CARD:
    case SCARD_W_RESET_CARD:
    case SCARD_W_UNPOWERED_CARD:
      return apdu::WithReason(absl::UnavailableError(msg), apdu::kReasonCardRemoved);
    case SCARD_F_COMM_ERROR:
    case SCARD_E_NO_SERVICE:
    case SCARD_E_SERVICE_STOPPED:
    case SCARD_E_INVALID_HANDLE:
    case SCARD_W_SECURITY_VIOLATION:
      return apdu::WithReason(absl::UnavailableError(msg), kReasonPcscUnavailable);
    case SCARD_E_UNKNOWN_READER:
    case SCARD_E_NO_READERS_AVAILABLE:
      return apdu::WithReason(absl::NotFoundError(msg), kReasonReaderNotFound);
    case SCARD_E_SHARING_VIOLATION:
      return apdu::WithReason(absl::UnavailableError(msg), kReasonReaderBusy);
    case SCARD_E_TIMEOUT:
      return absl::DeadlineExceededError(msg);
    case SCARD_E_CANCELLED:
      return absl::CancelledError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::StatusOr<std::unique_ptr<PcscContext>> PcscContext::Create(Options options) {
  std::unique_ptr<PcscContext> context(new PcscContext(options));
  DESFIRED_RETURN_IF_ERROR(context->Establish());
  return context;
}

PcscContext::~PcscContext() {
  if (context_ != 0) SCardReleaseContext(static_cast<SCARDCONTEXT>(context_));
}

absl::Status PcscContext::Establish() {
  SCARDCONTEXT ctx = 0;
  DESFIRED_RETURN_IF_ERROR(PcscStatus(
      SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx), "SCardEstablishContext"));
  context_ = static_cast<uintptr_t>(ctx);
  return absl::OkStatus();
}

absl::Status PcscContext::Reestablish() {
  if (context_ != 0) {
    SCardReleaseContext(static_cast<SCARDCONTEXT>(context_));
    context_ = 0;
  }
  absl::Duration backoff = options_.first_backoff;
  absl::Status last;
  for (int attempt = 0; attempt < options_.reconnect_attempts; ++attempt) {
    last = Establish();
    if (last.ok()) {
      // pcscd accepts a context before its readers are back: probe that it answers.
      DWORD len = 0;
      const LONG rv = SCardListReaders(static_cast<SCARDCONTEXT>(context_), nullptr, nullptr, &len);
      if (!IsServiceGone(rv)) return absl::OkStatus();
      last = PcscStatus(rv, "SCardListReaders");
      SCardReleaseContext(static_cast<SCARDCONTEXT>(context_));
      context_ = 0;
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
  return apdu::WithReason(
      absl::UnavailableError(absl::StrCat("pcscd did not come back: ", last.message())),
      kReasonPcscUnavailable);
}

absl::StatusOr<std::vector<std::string>> PcscContext::ListReaders() {
  for (int pass = 0; pass < 2; ++pass) {
    DWORD len = 0;
    LONG rv = SCardListReaders(static_cast<SCARDCONTEXT>(context_), nullptr, nullptr, &len);
    std::string buf;
    if (rv == SCARD_S_SUCCESS) {
      buf.resize(len);
      rv = SCardListReaders(static_cast<SCARDCONTEXT>(context_), nullptr, buf.data(), &len);
    }
    if (rv == SCARD_E_NO_READERS_AVAILABLE) return std::vector<std::string>{};
    if (IsServiceGone(rv) && pass == 0) {
      DESFIRED_RETURN_IF_ERROR(Reestablish());
      continue;
    }
    DESFIRED_RETURN_IF_ERROR(PcscStatus(rv, "SCardListReaders"));
    std::vector<std::string> readers;
    for (size_t i = 0; i < buf.size() && buf[i] != '\0';) {
      const size_t end = buf.find('\0', i);
      readers.push_back(buf.substr(i, end - i));
      i = end + 1;
    }
    return readers;
  }
  return absl::UnavailableError("unreachable");
}

absl::StatusOr<std::unique_ptr<PcscCard>> PcscContext::Connect(const std::string& reader,
                                                               ShareMode mode) {
  const DWORD share = mode == ShareMode::kShared ? SCARD_SHARE_SHARED : SCARD_SHARE_EXCLUSIVE;
  for (int pass = 0; pass < 2; ++pass) {
    SCARDHANDLE handle = 0;
    DWORD protocol = 0;
    const LONG rv = SCardConnect(static_cast<SCARDCONTEXT>(context_), reader.c_str(), share,
                                 SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_T0, &handle, &protocol);
    if (IsServiceGone(rv) && pass == 0) {
      DESFIRED_RETURN_IF_ERROR(Reestablish());
      continue;
    }
    DESFIRED_RETURN_IF_ERROR(PcscStatus(rv, absl::StrCat("SCardConnect(", reader, ")")));
    return std::unique_ptr<PcscCard>(
        new PcscCard(static_cast<uintptr_t>(handle), protocol, reader));
  }
  return absl::UnavailableError("unreachable");
}

PcscTransaction::PcscTransaction(PcscTransaction&& other) noexcept
    : handle_(other.handle_), active_(std::exchange(other.active_, false)) {}

PcscTransaction& PcscTransaction::operator=(PcscTransaction&& other) noexcept {
  if (this != &other) {
    End().IgnoreError();
    handle_ = other.handle_;
    active_ = std::exchange(other.active_, false);
  }
  return *this;
}

PcscTransaction::~PcscTransaction() { End().IgnoreError(); }

absl::Status PcscTransaction::End() {
  if (!active_) return absl::OkStatus();
  active_ = false;
  return CardStatus(SCardEndTransaction(static_cast<SCARDHANDLE>(handle_), SCARD_LEAVE_CARD),
                    "SCardEndTransaction");
}

absl::StatusOr<PcscTransaction> PcscCard::BeginTransaction() {
  DESFIRED_RETURN_IF_ERROR(CardStatus(SCardBeginTransaction(static_cast<SCARDHANDLE>(handle_)),
                                      "SCardBeginTransaction"));
  return PcscTransaction(handle_);
}

PcscCard::~PcscCard() { SCardDisconnect(static_cast<SCARDHANDLE>(handle_), SCARD_LEAVE_CARD); }

absl::StatusOr<Bytes> PcscCard::Transmit(ByteSpan command) {
  const SCARD_IO_REQUEST* pci = protocol_ == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
  Bytes reply(kMaxReply);
  DWORD len = static_cast<DWORD>(reply.size());
  DESFIRED_RETURN_IF_ERROR(
      CardStatus(SCardTransmit(static_cast<SCARDHANDLE>(handle_), pci, command.data(),
                               static_cast<DWORD>(command.size()), nullptr, reply.data(), &len),
                 "SCardTransmit"));
  if (len == 0) {
    // pcscd reports success with no bytes when the card died mid-exchange.
    return apdu::WithReason(absl::UnavailableError("SCardTransmit: empty reply (card gone)"),
                            apdu::kReasonCardRemoved);
  }
  reply.resize(len);
  return reply;
}

absl::StatusOr<Bytes> PcscCard::Uid() {
  DESFIRED_ASSIGN_OR_RETURN(Bytes reply, Transmit(ByteSpan(kGetDataUid, sizeof(kGetDataUid))));
  if (reply.size() < 2 || reply[reply.size() - 2] != 0x90 || reply[reply.size() - 1] != 0x00) {
    return apdu::WithReason(
        absl::FailedPreconditionError(absl::StrCat("GET DATA (UID) answered ", HexEncode(reply))),
        apdu::kReasonIsoStatus);
  }
  reply.resize(reply.size() - 2);
  return reply;
}

absl::StatusOr<Bytes> PcscCard::Atr() {
  BYTE atr[MAX_ATR_SIZE];
  DWORD atr_len = sizeof(atr);
  DWORD state = 0, protocol = 0, name_len = 0;
  DESFIRED_RETURN_IF_ERROR(CardStatus(SCardStatus(static_cast<SCARDHANDLE>(handle_), nullptr,
                                                  &name_len, &state, &protocol, atr, &atr_len),
                                      "SCardStatus"));
  return Bytes(atr, atr + atr_len);
}

}  // namespace desfired::pcsc
