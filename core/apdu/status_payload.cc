#include "core/apdu/status_payload.h"

#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace desfired::apdu {

std::optional<uint16_t> GetStatusWord(const absl::Status& status) {
  auto payload = status.GetPayload(kStatusWordTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  std::string bytes(*payload);
  if (bytes.size() != 2) return std::nullopt;
  return static_cast<uint16_t>(static_cast<uint8_t>(bytes[0]) << 8 |
                               static_cast<uint8_t>(bytes[1]));
}

std::optional<uint8_t> GetDesfireStatus(const absl::Status& status) {
  auto payload = status.GetPayload(kDesfireStatusTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  std::string bytes(*payload);
  if (bytes.size() != 1) return std::nullopt;
  return static_cast<uint8_t>(bytes[0]);
}

absl::string_view CommitStateName(CommitState state) {
  return state == CommitState::kNotCommitted ? "NOT_COMMITTED" : "UNKNOWN";
}

absl::Status WithCommitState(absl::Status status, CommitState state) {
  if (!status.ok()) status.SetPayload(kCommitStateTypeUrl, absl::Cord(CommitStateName(state)));
  return status;
}

std::optional<CommitState> GetCommitState(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kCommitStateTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  return *payload == CommitStateName(CommitState::kNotCommitted) ? CommitState::kNotCommitted
                                                                 : CommitState::kUnknown;
}

absl::Status WithErrorMetadata(absl::Status status, absl::string_view key,
                               absl::string_view value) {
  if (!status.ok()) status.SetPayload(absl::StrCat(kMetadataTypeUrlPrefix, key), absl::Cord(value));
  return status;
}

std::optional<std::string> GetErrorMetadata(const absl::Status& status, absl::string_view key) {
  absl::optional<absl::Cord> payload = status.GetPayload(absl::StrCat(kMetadataTypeUrlPrefix, key));
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
}

absl::Status CardRemovedError(absl::string_view message) {
  return WithReason(absl::UnavailableError(message), kReasonCardRemoved);
}

absl::Status ProtocolError(absl::string_view message) {
  return WithReason(absl::InternalError(message), kReasonProtocolError);
}

}  // namespace desfired::apdu
