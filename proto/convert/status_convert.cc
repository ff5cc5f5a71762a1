#include "proto/convert/status_convert.h"

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "google/rpc/status.pb.h"

namespace desfired {
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

}  // namespace

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
    if (!absl::StartsWith(url, apdu::kMetadataTypeUrlPrefix)) return;
    absl::string_view key = url.substr(apdu::kMetadataTypeUrlPrefix.size());
    if (IsValidMetadataKey(key)) metadata[std::string(key)] = std::string(value);
  });
  // The card's own bytes and the commit state come last: they win over a metadata payload
  // that happens to use the same key.
  if (std::optional<uint8_t> ds = apdu::GetDesfireStatus(status); ds.has_value()) {
    metadata[std::string(apdu::kMetadataDesfireStatus)] = absl::StrFormat("%02X", *ds);
  }
  if (std::optional<uint16_t> sw = apdu::GetStatusWord(status); sw.has_value()) {
    metadata[std::string(apdu::kMetadataStatusWord)] = absl::StrFormat("%04X", *sw);
  }
  if (std::optional<apdu::CommitState> cs = apdu::GetCommitState(status); cs.has_value()) {
    metadata[std::string(apdu::kMetadataCommitState)] = std::string(apdu::CommitStateName(*cs));
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

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // absl::StatusCode and grpc::StatusCode share their numbers (the canonical codes).
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  std::optional<google::rpc::ErrorInfo> info = GetErrorInfo(status);
  if (!info.has_value() || info->reason().empty()) return out;
  out = apdu::WithReason(std::move(out), info->reason());
  for (const auto& [key, value] : info->metadata()) {
    out = apdu::WithErrorMetadata(std::move(out), key, value);
    uint32_t number = 0;
    if (key == apdu::kMetadataDesfireStatus && value.size() == 2 &&
        absl::SimpleHexAtoi(value, &number)) {
      out.SetPayload(apdu::kDesfireStatusTypeUrl,
                     absl::Cord(std::string(1, static_cast<char>(number))));
    } else if (key == apdu::kMetadataStatusWord && value.size() == 4 &&
               absl::SimpleHexAtoi(value, &number)) {
      const char sw[2] = {static_cast<char>(number >> 8), static_cast<char>(number & 0xFF)};
      out.SetPayload(apdu::kStatusWordTypeUrl, absl::Cord(absl::string_view(sw, 2)));
    } else if (key == apdu::kMetadataCommitState) {
      out = apdu::WithCommitState(std::move(out),
                                  value == apdu::CommitStateName(apdu::CommitState::kNotCommitted)
                                      ? apdu::CommitState::kNotCommitted
                                      : apdu::CommitState::kUnknown);
    }
  }
  return out;
}

}  // namespace desfired
