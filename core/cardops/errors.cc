#include "core/cardops/errors.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"

namespace desfired::cardops {
namespace {

std::string MetadataTypeUrl(absl::string_view key) {
  return absl::StrCat(kMetadataTypeUrlPrefix, key);
}

}  // namespace

absl::Status WithErrorMetadata(absl::Status status, absl::string_view key,
                               absl::string_view value) {
  if (!status.ok()) status.SetPayload(MetadataTypeUrl(key), absl::Cord(value));
  return status;
}

std::optional<std::string> GetErrorMetadata(const absl::Status& status, absl::string_view key) {
  absl::optional<absl::Cord> payload = status.GetPayload(MetadataTypeUrl(key));
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
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

}  // namespace desfired::cardops
