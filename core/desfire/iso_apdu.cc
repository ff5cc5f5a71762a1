#include "core/desfire/iso_apdu.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"
#include "core/util/status_macros.h"

namespace desfired::desfire {
namespace {

constexpr uint8_t kCla = 0x00;
constexpr uint8_t kNoAnswerData = 0x0C;  // SELECT P2: no FCI back
constexpr uint8_t kSfiFlag = 0x80;       // READ/UPDATE BINARY P1: b8 = SFI follows
constexpr uint8_t kMaxSfi = 0x1F;
constexpr uint8_t kRecordOne = 0x04;       // READ RECORD P2 b3..b1: record P1
constexpr uint8_t kRecordAndOlder = 0x05;  // record P1 and all after it

absl::Status CheckSfi(IsoFile file) {
  if (file.has_value() && *file > kMaxSfi) {
    return absl::InvalidArgumentError(
        absl::StrFormat("short file id %d is over 31", static_cast<int>(*file)));
  }
  return absl::OkStatus();
}

// P1 P2 of READ / UPDATE BINARY.
absl::StatusOr<std::pair<uint8_t, uint8_t>> BinaryP1P2(IsoFile file, uint32_t offset) {
  DESFIRED_RETURN_IF_ERROR(CheckSfi(file));
  if (file.has_value()) {
    if (offset > kIsoMaxSfiOffset) {
      return absl::OutOfRangeError(absl::StrFormat(
          "offset %d is over 255, the most a short file id allows: select the file by its ISO "
          "file id",
          offset));
    }
    return std::make_pair(static_cast<uint8_t>(kSfiFlag | *file), static_cast<uint8_t>(offset));
  }
  if (offset > kIsoMaxOffset) {
    return absl::OutOfRangeError(absl::StrFormat("offset %d is over 32767", offset));
  }
  return std::make_pair(static_cast<uint8_t>(offset >> 8), static_cast<uint8_t>(offset & 0xFF));
}

absl::Status CheckWrite(ByteSpan data) {
  if (data.empty() || data.size() > kIsoMaxWrite) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d bytes: one ISO write carries 1..255", data.size()));
  }
  return absl::OkStatus();
}

uint8_t RecordP2(IsoFile file, uint8_t low) {
  return static_cast<uint8_t>((file.value_or(0) << 3) | low);
}

}  // namespace

absl::StatusOr<apdu::CommandApdu> IsoSelectCommand(IsoSelectBy by, ByteSpan id) {
  if (by == IsoSelectBy::kDfName ? (id.empty() || id.size() > 16) : id.size() != 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "SELECT by %s takes %s, not %d bytes", by == IsoSelectBy::kDfName ? "DF name" : "file id",
        by == IsoSelectBy::kDfName ? "1..16" : "2", id.size()));
  }
  return apdu::CommandApdu{.cla = kCla,
                           .ins = kIsoInsSelect,
                           .p1 = static_cast<uint8_t>(by),
                           .p2 = kNoAnswerData,
                           .data = Bytes(id.begin(), id.end()),
                           .le = std::nullopt};
}

absl::StatusOr<apdu::CommandApdu> IsoReadBinaryCommand(IsoFile file, uint32_t offset, size_t le) {
  if (le == 0 || le > kIsoMaxRead) {
    return absl::InvalidArgumentError(absl::StrFormat("Le %d is outside 1..256", le));
  }
  DESFIRED_ASSIGN_OR_RETURN(auto p, BinaryP1P2(file, offset));
  return apdu::CommandApdu{.cla = kCla,
                           .ins = kIsoInsReadBinary,
                           .p1 = p.first,
                           .p2 = p.second,
                           .data = {},
                           .le = static_cast<uint16_t>(le)};
}

absl::StatusOr<apdu::CommandApdu> IsoUpdateBinaryCommand(IsoFile file, uint32_t offset,
                                                         ByteSpan data) {
  DESFIRED_RETURN_IF_ERROR(CheckWrite(data));
  DESFIRED_ASSIGN_OR_RETURN(auto p, BinaryP1P2(file, offset));
  return apdu::CommandApdu{.cla = kCla,
                           .ins = kIsoInsUpdateBinary,
                           .p1 = p.first,
                           .p2 = p.second,
                           .data = Bytes(data.begin(), data.end()),
                           .le = std::nullopt};
}

absl::StatusOr<apdu::CommandApdu> IsoReadRecordCommand(IsoFile file, uint32_t record_no,
                                                       bool and_older) {
  DESFIRED_RETURN_IF_ERROR(CheckSfi(file));
  if (record_no == 0 || record_no > kIsoMaxRecordNo) {
    return absl::OutOfRangeError(absl::StrFormat("record number %d is outside 1..254", record_no));
  }
  return apdu::CommandApdu{.cla = kCla,
                           .ins = kIsoInsReadRecord,
                           .p1 = static_cast<uint8_t>(record_no),
                           .p2 = RecordP2(file, and_older ? kRecordAndOlder : kRecordOne),
                           .data = {},
                           .le = static_cast<uint16_t>(kIsoMaxRead)};
}

absl::StatusOr<apdu::CommandApdu> IsoAppendRecordCommand(IsoFile file, ByteSpan data) {
  DESFIRED_RETURN_IF_ERROR(CheckSfi(file));
  DESFIRED_RETURN_IF_ERROR(CheckWrite(data));
  return apdu::CommandApdu{.cla = kCla,
                           .ins = kIsoInsAppendRecord,
                           .p1 = 0,
                           .p2 = RecordP2(file, 0),
                           .data = Bytes(data.begin(), data.end()),
                           .le = std::nullopt};
}

absl::StatusOr<Bytes> DecodeIsoAnswer(ByteSpan raw, size_t max_data) {
  DESFIRED_ASSIGN_OR_RETURN(apdu::ResponseApdu reply, apdu::ResponseApdu::Parse(raw));
  if (reply.sw() != apdu::kSwSuccess) {
    if (reply.sw1 == 0x91) {
      return apdu::ProtocolError(
          absl::StrFormat("card answered an ISO command with native status 91 %02X", reply.sw2));
    }
    return apdu::StatusWordToStatus(reply.sw());
  }
  if (reply.data.size() > max_data) {
    return apdu::ProtocolError(absl::StrFormat("card answered %d bytes where at most %d fit",
                                               reply.data.size(), max_data));
  }
  return std::move(reply.data);
}

}  // namespace desfired::desfire
