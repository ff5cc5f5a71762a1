// DesfireCard::ChangeFileSettings with SDM (card.h, sdm_settings.h).
#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/card.h"
#include "core/desfire/sdm_settings.h"
#include "core/util/status_macros.h"

namespace desfired::desfire {

absl::Status DesfireCard::ChangeFileSettings(uint8_t file_no, CommMode comm_mode,
                                             const AccessRights& access, const SdmSettings& sdm) {
  DESFIRED_ASSIGN_OR_RETURN(FileSettings current, GetFileSettings(file_no));
  if (current.type != FileType::kStandardData) {
    return apdu::WithReason(
        absl::FailedPreconditionError(absl::StrFormat(
            "ChangeFileSettings: SDM needs a standard data file; file %d is a %s file", file_no,
            FileTypeName(current.type))),
        kReasonWrongFileType);
  }
  DESFIRED_ASSIGN_OR_RETURN(
      Bytes tail, EncodeSdmSettings(sdm, {.file_size = current.file_size,
                                          .lrp = session().scheme() == AuthScheme::kLrp}));
  const uint16_t rights = access.Encode();
  const uint8_t head[3] = {static_cast<uint8_t>(static_cast<uint8_t>(comm_mode) | kFileOptionSdm),
                           static_cast<uint8_t>(rights), static_cast<uint8_t>(rights >> 8)};
  return SendFileSettings(file_no, current, Concat({ByteSpan(head, 3), tail}));
}

}  // namespace desfired::desfire
