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

absl::Status CardRemovedError(absl::string_view message) {
  return WithReason(absl::UnavailableError(message), kReasonCardRemoved);
}

absl::Status ProtocolError(absl::string_view message) {
  return WithReason(absl::InternalError(message), kReasonProtocolError);
}

}  // namespace desfired::apdu
