#include "core/cardops/transactions.h"

#include <optional>

#include "core/cardops/session.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {

absl::StatusOr<bool> CommitTransaction(CardContext& ctx, const TransactionRequest& request) {
  return RunOp<bool>(ctx, [&](bool& committed) -> absl::Status {
    DESFIRED_RETURN_IF_ERROR(CheckExpectedUid(ctx, request.target));
    DESFIRED_ASSIGN_OR_RETURN(KeyChoice key, ChooseKey(ctx, request.auth));
    if (!CanContinue(ctx, request.aid, key, std::nullopt) || !ctx.session.pending) {
      return absl::OkStatus();  // the transaction was lost (or there was none)
    }
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_RETURN_IF_ERROR(ctx.card->CommitTransaction());
    ctx.session.pending = false;
    committed = true;
    return absl::OkStatus();
  });
}

absl::Status AbortTransaction(CardContext& ctx, const TransactionRequest& request) {
  return RunOpStatus(ctx, [&]() -> absl::Status {
    DESFIRED_RETURN_IF_ERROR(CheckExpectedUid(ctx, request.target));
    DESFIRED_ASSIGN_OR_RETURN(KeyChoice key, ChooseKey(ctx, request.auth));
    if (!CanContinue(ctx, request.aid, key, std::nullopt) || !ctx.session.pending) {
      return absl::OkStatus();  // nothing open in this session
    }
    DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    DESFIRED_RETURN_IF_ERROR(ctx.card->AbortTransaction());
    ctx.session.pending = false;
    return absl::OkStatus();
  });
}

}  // namespace desfired::cardops
