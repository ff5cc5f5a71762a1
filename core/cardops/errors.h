// The errors of the card operations' own checks: the shared helpers of core/apdu
// (error_metadata.h, status_payload.h), named in this namespace. proto/convert/status_convert.h
// turns their reason and metadata payloads into google.rpc.ErrorInfo.
//
//   absl::Status s = KeyNotFoundError("transit");
//   // FAILED_PRECONDITION; reason KEY_NOT_FOUND; metadata key_name = "transit"
//   GetErrorMetadata(s, kMetadataKeyName);  // "transit"
//
// Thread-safe: constants and pure functions.
#ifndef DESFIRED_CORE_CARDOPS_ERRORS_H_
#define DESFIRED_CORE_CARDOPS_ERRORS_H_

#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"

namespace desfired::cardops {

using apdu::kMetadataExpectedUid;
using apdu::kMetadataField;
using apdu::kMetadataKeyName;
using apdu::kMetadataReader;
using apdu::kMetadataTypeUrlPrefix;
using apdu::kMetadataUid;
using apdu::kReasonCardMismatch;
using apdu::kReasonInvalidArgument;
using apdu::kReasonKeyNotFound;

using apdu::CardMismatchError;
using apdu::GetErrorMetadata;
using apdu::InvalidFieldError;
using apdu::KeyNotFoundError;
using apdu::WithErrorMetadata;

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_ERRORS_H_
