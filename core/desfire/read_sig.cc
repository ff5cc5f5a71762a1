// DesfireCard::ReadSignature (card.h): ReadSig, in a file of its own (session.cc and card.cc
// hold the EV1/EV2 commands).
#include "absl/status/status.h"
#include "core/desfire/card.h"
#include "core/desfire/originality.h"
#include "core/util/status_macros.h"

namespace desfired::desfire {

absl::StatusOr<Bytes> DesfireCard::ReadSignature() {
  if (session_.authenticated()) {
    return absl::FailedPreconditionError(
        "ReadSig is read in plain, before authenticating (select the PICC level first)");
  }
  constexpr uint8_t kAddress = 0x00;  // the only address the cards know
  const uint8_t payload[] = {kAddress};
  DESFIRED_ASSIGN_OR_RETURN(
      NativeResponse reply,
      channel_.Transceive(Ins::kReadSig, payload, {.extra_success_status = kReadSigStatus}));
  return DecodeReadSigAnswer(reply.status, reply.data);
}

}  // namespace desfired::desfire
