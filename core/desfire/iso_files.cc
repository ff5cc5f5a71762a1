// DesfireCard's ISO/IEC 7816-4 file commands (card.h "ISO/IEC 7816-4 file access"), in a file of
// their own; the APDUs are built and decoded by iso_apdu.h.
#include <algorithm>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/card.h"
#include "core/desfire/iso_apdu.h"
#include "core/util/status_macros.h"

namespace desfired::desfire {
namespace {

bool Ev1Family(AuthScheme s) {
  return s == AuthScheme::kLegacy || s == AuthScheme::kIso || s == AuthScheme::kAes;
}

}  // namespace

absl::StatusOr<Bytes> DesfireCard::RunIso(const apdu::CommandApdu& command, size_t max_data) {
  if (Ev1Family(session_.scheme())) {
    return apdu::WithReason(
        absl::FailedPreconditionError(
            "ISO file commands after an EV1 or legacy authentication come back with a CMAC the "
            "host does not check: authenticate with EV2 or LRP, or not at all"),
        "CONDITIONS_NOT_SATISFIED");
  }
  const Bytes wire = command.Encode();
  absl::StatusOr<Bytes> raw = channel_.TransmitIso(wire);
  absl::StatusOr<Bytes> data = raw.ok() ? DecodeIsoAnswer(*raw, max_data) : raw.status();
  if (!data.ok()) {
    // The card ends its session on an error; so does the host.
    session_.Invalidate();
    DropSessionState();
  }
  return data;
}

absl::Status DesfireCard::IsoSelectFile(IsoSelectBy by, ByteSpan id) {
  DESFIRED_ASSIGN_OR_RETURN(apdu::CommandApdu command, IsoSelectCommand(by, id));
  if (by != IsoSelectBy::kChildEf) {
    // Selecting a DF ends the session and the transaction on the card; forget them first so
    // that the check of RunIso does not stand in the way.
    session_.Invalidate();
    DropSessionState();
    selected_aid_.reset();
  }
  return RunIso(command, 0).status();
}

absl::StatusOr<Bytes> DesfireCard::IsoReadBinary(IsoFile file, uint32_t offset, uint32_t length) {
  Bytes out;
  for (;;) {
    const size_t want =
        length == 0 ? kIsoMaxRead : std::min<size_t>(kIsoMaxRead, length - out.size());
    DESFIRED_ASSIGN_OR_RETURN(
        apdu::CommandApdu command,
        IsoReadBinaryCommand(file, offset + static_cast<uint32_t>(out.size()), want));
    absl::StatusOr<Bytes> answer = RunIso(command, want);
    if (!answer.ok() && length == 0 && !out.empty() &&
        apdu::GetStatusWord(answer.status()) == apdu::kSwWrongP1P2) {
      return out;  // a file of a multiple of 256 bytes: 6B00 at its end (the session ends)
    }
    DESFIRED_ASSIGN_OR_RETURN(Bytes chunk, std::move(answer));
    const bool short_read = chunk.size() < want;
    out.insert(out.end(), chunk.begin(), chunk.end());
    if (length > 0 && short_read) {
      return apdu::ProtocolError(
          absl::StrFormat("READ BINARY: asked for %d bytes, got %d", want, chunk.size()));
    }
    if ((length > 0 && out.size() == length) || (length == 0 && (short_read || chunk.empty()))) {
      return out;
    }
  }
}

absl::Status DesfireCard::IsoUpdateBinary(IsoFile file, uint32_t offset, ByteSpan data,
                                          TxOptions tx) {
  if (data.empty()) return absl::InvalidArgumentError("nothing to write");
  absl::Status changed;
  for (size_t done = 0; done < data.size() && changed.ok();) {
    const size_t n = std::min(kIsoMaxWrite, data.size() - done);
    absl::StatusOr<apdu::CommandApdu> command =
        IsoUpdateBinaryCommand(file, offset + static_cast<uint32_t>(done), data.subspan(done, n));
    if (!command.ok()) {
      if (done == 0) return command.status();  // nothing sent yet
      changed = command.status();
      break;
    }
    changed = RunIso(*command, 0).status();
    done += n;
  }
  return FinishChange(changed, std::move(tx));
}

absl::StatusOr<std::vector<Bytes>> DesfireCard::IsoReadRecords(IsoFile file, uint32_t first,
                                                               uint32_t count) {
  std::vector<Bytes> out;
  for (uint32_t n = first; count == 0 || out.size() < count; ++n) {
    DESFIRED_ASSIGN_OR_RETURN(apdu::CommandApdu command,
                              IsoReadRecordCommand(file, n, /*and_older=*/false));
    absl::StatusOr<Bytes> record = RunIso(command, kIsoMaxRead);
    if (!record.ok()) {
      // Past the oldest record the card answers 6A83 (and the session ends with it).
      if (apdu::GetStatusWord(record.status()) == apdu::kSwRecordNotFound) return out;
      return record.status();
    }
    out.push_back(*std::move(record));
    if (n == kIsoMaxRecordNo) break;
  }
  return out;
}

absl::Status DesfireCard::IsoAppendRecord(IsoFile file, ByteSpan data, TxOptions tx) {
  DESFIRED_ASSIGN_OR_RETURN(apdu::CommandApdu command, IsoAppendRecordCommand(file, data));
  return FinishChange(RunIso(command, 0).status(), std::move(tx));
}

}  // namespace desfired::desfire
