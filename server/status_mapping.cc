#include "server/status_mapping.h"

#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/card.h"
#include "google/rpc/status.pb.h"

namespace desfired::server {
namespace {

// ErrorInfo.reason: [A-Z0-9_]{1,63} (google/rpc/error_details.proto).
bool IsValidReason(absl::string_view reason) {
  if (reason.empty() || reason.size() > 63) return false;
  for (char c : reason) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// ErrorInfo.metadata keys: [a-zA-Z0-9_-]{1,64}.
bool IsValidMetadataKey(absl::string_view key) {
  if (key.empty() || key.size() > 64) return false;
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

std::string MetadataTypeUrl(absl::string_view key) {
  return absl::StrCat(kMetadataTypeUrlPrefix, key);
}

}  // namespace

absl::Status WithErrorMetadata(absl::Status status, absl::string_view key,
                               absl::string_view value) {
  if (!status.ok()) status.SetPayload(MetadataTypeUrl(key), absl::Cord(value));
  return status;
}

absl::Status InvalidFieldError(absl::string_view field, absl::string_view message) {
  absl::Status status =
      apdu::WithReason(absl::InvalidArgumentError(message), kReasonInvalidArgument);
  return WithErrorMetadata(std::move(status), kMetadataField, field);
}

absl::Status CardMismatchError(absl::string_view reader, ByteSpan expected_uid,
                               ByteSpan actual_uid) {
  const std::string expected = HexEncode(expected_uid);
  const std::string actual = HexEncode(actual_uid);
  absl::Status status =
      apdu::WithReason(absl::FailedPreconditionError(absl::StrFormat(
                           "the card on reader \"%s\" has UID %s, not the expected %s", reader,
                           actual.empty() ? "(none)" : actual, expected)),
                       kReasonCardMismatch);
  status = WithErrorMetadata(std::move(status), kMetadataReader, reader);
  status = WithErrorMetadata(std::move(status), kMetadataExpectedUid, expected);
  return WithErrorMetadata(std::move(status), kMetadataUid, actual);
}

absl::Status KeyNotFoundError(absl::string_view key_name) {
  absl::Status status =
      apdu::WithReason(absl::FailedPreconditionError(absl::StrFormat(
                           "key \"%s\" is not in the server's key store", key_name)),
                       kReasonKeyNotFound);
  return WithErrorMetadata(std::move(status), kMetadataKeyName, key_name);
}

std::string ReasonOf(const absl::Status& status) {
  if (status.ok()) return std::string();
  std::optional<std::string> reason = apdu::GetReason(status);
  return reason.has_value() && IsValidReason(*reason) ? *std::move(reason)
                                                      : absl::StatusCodeToString(status.code());
}

google::rpc::ErrorInfo ToErrorInfo(const absl::Status& status) {
  google::rpc::ErrorInfo info;
  if (status.ok()) return info;

  info.set_reason(ReasonOf(status));
  info.set_domain(std::string(kErrorDomain));

  auto& metadata = *info.mutable_metadata();
  status.ForEachPayload([&metadata](absl::string_view url, const absl::Cord& value) {
    if (!absl::StartsWith(url, kMetadataTypeUrlPrefix)) return;
    absl::string_view key = url.substr(kMetadataTypeUrlPrefix.size());
    if (IsValidMetadataKey(key)) metadata[std::string(key)] = std::string(value);
  });
  // The card's own bytes and the commit state come last: they win over a metadata payload
  // that happens to use the same key.
  if (std::optional<uint8_t> ds = apdu::GetDesfireStatus(status); ds.has_value()) {
    metadata[std::string(kMetadataDesfireStatus)] = absl::StrFormat("%02X", *ds);
  }
  if (std::optional<uint16_t> sw = apdu::GetStatusWord(status); sw.has_value()) {
    metadata[std::string(kMetadataStatusWord)] = absl::StrFormat("%04X", *sw);
  }
  if (std::optional<desfire::CommitState> cs = desfire::GetCommitState(status); cs.has_value()) {
    metadata[std::string(kMetadataCommitState)] =
        *cs == desfire::CommitState::kNotCommitted ? "NOT_COMMITTED" : "UNKNOWN";
  }
  return info;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  google::rpc::Status details;
  details.set_code(static_cast<int>(status.code()));
  details.set_message(std::string(status.message()));
  details.add_details()->PackFrom(ToErrorInfo(status));
  // absl::StatusCode and grpc::StatusCode share their numbers (both are the canonical codes).
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      details.SerializeAsString());
}

std::optional<google::rpc::ErrorInfo> GetErrorInfo(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    return std::nullopt;
  }
  if (details.details_size() != 1) return std::nullopt;
  google::rpc::ErrorInfo info;
  if (!details.details(0).UnpackTo(&info)) return std::nullopt;
  return info;
}

}  // namespace desfired::server
