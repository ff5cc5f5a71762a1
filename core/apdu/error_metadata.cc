#include "core/apdu/error_metadata.h"

#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"
#include "core/util/echo.h"

namespace desfired::apdu {

absl::Status InvalidFieldError(absl::string_view field, absl::string_view message) {
  absl::Status status = WithReason(absl::InvalidArgumentError(message), kReasonInvalidArgument);
  return WithErrorMetadata(std::move(status), kMetadataField, field);
}

absl::Status CardMismatchError(absl::string_view reader, ByteSpan expected_uid,
                               ByteSpan actual_uid) {
  const std::string expected = HexEncode(expected_uid);
  const std::string actual = HexEncode(actual_uid);
  absl::Status status = WithReason(absl::FailedPreconditionError(absl::StrFormat(
                                       "the card on reader \"%s\" has UID %s, not the expected %s",
                                       Echo(reader), actual.empty() ? "(none)" : actual, expected)),
                                   kReasonCardMismatch);
  status = WithErrorMetadata(std::move(status), kMetadataReader, Echo(reader));
  status = WithErrorMetadata(std::move(status), kMetadataExpectedUid, expected);
  return WithErrorMetadata(std::move(status), kMetadataUid, actual);
}

absl::Status KeyNotFoundError(absl::string_view key_name) {
  absl::Status status =
      WithReason(absl::FailedPreconditionError(absl::StrFormat(
                     "key \"%s\" is not in the server's key store", Echo(key_name))),
                 kReasonKeyNotFound);
  return WithErrorMetadata(std::move(status), kMetadataKeyName, Echo(key_name));
}

}  // namespace desfired::apdu
