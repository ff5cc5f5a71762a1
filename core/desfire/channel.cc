#include "core/desfire/channel.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/apdu.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/status.h"
#include "core/util/status_macros.h"

namespace desfired::desfire {
namespace {

constexpr uint8_t kWrappedCla = 0x90;
constexpr uint8_t kWrappedSw1 = 0x91;

Bytes WrapFrame(Ins ins, ByteSpan chunk) {
  apdu::CommandApdu command{.cla = kWrappedCla,
                            .ins = ToByte(ins),
                            .p1 = 0,
                            .p2 = 0,
                            .data = Bytes(chunk.begin(), chunk.end()),
                            .le = 0};
  return command.Encode();
}

}  // namespace

void Channel::Log(FrameDirection direction, ByteSpan frame, bool redact, size_t keep) const {
  if (!logger_) return;
  if (!redact || frame.size() <= keep) {
    logger_(direction, HexEncode(frame));
    return;
  }
  logger_(direction, absl::StrCat(HexEncode(frame.subspan(0, keep)), " <", frame.size() - keep,
                                  " bytes redacted>"));
}

absl::StatusOr<Bytes> Channel::Exchange(ByteSpan frame, bool redact) {
  // Command frames keep CLA INS P1 P2 Lc; replies keep SW1 SW2 (logged as the tail).
  Log(FrameDirection::kToCard, frame, redact, 5);
  DESFIRED_ASSIGN_OR_RETURN(Bytes reply, transport_.Transmit(frame));
  if (redact && reply.size() > 2) {
    if (logger_) {
      logger_(FrameDirection::kFromCard,
              absl::StrCat("<", reply.size() - 2, " bytes redacted> ",
                           HexEncode(ByteSpan(reply).subspan(reply.size() - 2))));
    }
  } else {
    Log(FrameDirection::kFromCard, reply, false, 0);
  }
  return reply;
}

absl::StatusOr<NativeResponse> Channel::Transceive(Ins ins, ByteSpan payload,
                                                   const TransceiveOptions& options) {
  NativeResponse response;
  size_t sent = 0;
  Ins frame_ins = ins;
  for (;;) {
    const size_t n = std::min(kMaxFrameData, payload.size() - sent);
    Bytes frame = WrapFrame(frame_ins, payload.subspan(sent, n));
    sent += n;
    DESFIRED_ASSIGN_OR_RETURN(Bytes raw, Exchange(frame, options.redact));
    DESFIRED_ASSIGN_OR_RETURN(apdu::ResponseApdu reply, apdu::ResponseApdu::Parse(raw));
    if (reply.sw1 != kWrappedSw1) {
      if (reply.sw() == apdu::kSwSuccess) {
        return apdu::ProtocolError("card answered 90 00 to a wrapped native command");
      }
      return apdu::StatusWordToStatus(reply.sw());
    }
    const bool more = reply.sw2 == ToByte(DesfireStatus::kAdditionalFrame);
    if (sent < payload.size()) {
      // Still sending: the card must ask for the next frame and send nothing yet.
      if (!more) {
        DESFIRED_RETURN_IF_ERROR(DesfireStatusToStatus(reply.sw2));
        return apdu::ProtocolError(
            absl::StrFormat("card ended the command after %d of %d bytes", sent, payload.size()));
      }
      if (!reply.data.empty()) {
        return apdu::ProtocolError("card sent data while the command was being chained");
      }
      frame_ins = Ins::kAdditionalFrame;
      continue;
    }
    response.data.insert(response.data.end(), reply.data.begin(), reply.data.end());
    response.frame_sizes.push_back(reply.data.size());
    if (response.data.size() > kMaxResponseBytes) {
      return apdu::ProtocolError("reply exceeds the largest accepted size");
    }
    if (more && options.fetch_additional_frames) {
      frame_ins = Ins::kAdditionalFrame;
      payload = ByteSpan();
      sent = 0;
      continue;
    }
    if (reply.sw2 != options.extra_success_status) {
      DESFIRED_RETURN_IF_ERROR(DesfireStatusToStatus(reply.sw2));
    }
    response.status = reply.sw2;
    return response;
  }
}

}  // namespace desfired::desfire
