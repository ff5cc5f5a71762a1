#include "core/cardops/originality.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "core/cardops/session.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {

absl::StatusOr<OriginalityCheck> VerifyOriginality(CardContext& ctx,
                                                   const VerifyOriginalityRequest& request) {
  return RunOp<OriginalityCheck>(ctx, [&](OriginalityCheck& out) -> absl::Status {
    DESFIRED_RETURN_IF_ERROR(Begin(ctx, request.target, 0, KeyRef{}).status());
    out.reader = ctx.reader;
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_ASSIGN_OR_RETURN(out.version, ctx.card->GetVersion());
    out.uid = out.version.uid;
    if (std::all_of(out.uid.begin(), out.uid.end(), [](uint8_t b) { return b == 0; })) {
      return absl::FailedPreconditionError(
          "the card presents a random UID: its originality signature covers the real UID, "
          "which it tells only after authentication");
    }
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_ASSIGN_OR_RETURN(out.signature, ctx.card->ReadSignature());
    const std::vector<desfire::OriginalityKey> none;
    const std::vector<desfire::OriginalityKey>& extra =
        ctx.originality_keys != nullptr ? *ctx.originality_keys : none;
    out.result = desfire::VerifyOriginality(out.version.product, out.uid, out.signature, extra);
    return absl::OkStatus();
  });
}

}  // namespace desfired::cardops
