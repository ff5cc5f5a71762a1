#include "core/util/status_reason.h"

#include "absl/strings/cord.h"

namespace desfired {

absl::Status WithReason(absl::Status status, absl::string_view reason) {
  if (!status.ok()) status.SetPayload(kReasonTypeUrl, absl::Cord(reason));
  return status;
}

std::optional<std::string> GetReason(const absl::Status& status) {
  auto payload = status.GetPayload(kReasonTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
}

}  // namespace desfired
