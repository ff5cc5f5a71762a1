// CommitTransaction and AbortTransaction: the end of changes left open with defer_commit
// (see "Sessions and transactions" in context.h).
//
//   DESFIRED_ASSIGN_OR_RETURN(bool committed, CommitTransaction(ctx, {.target = t,
//                                                                      .aid = 0xF51001,
//                                                                      .auth = debit_key}));
//
// Both check the expected UID and the key (steps 1 and 2 of the prologue, session.h) and then
// act only when the card's session is the one the request names (same application, key name,
// number and scheme) and a change is pending; otherwise the transaction was lost (or there was
// none) and nothing is sent: CommitTransaction returns false, AbortTransaction OK. Errors: those
// of the prologue's first steps and of DesfireCard::CommitTransaction / AbortTransaction. A
// failure resets ctx.session.
//
// Thread-compatible: on the thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_TRANSACTIONS_H_
#define DESFIRED_CORE_CARDOPS_TRANSACTIONS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/cardops/context.h"
#include "core/cardops/target.h"

namespace desfired::cardops {

struct TransactionRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};  // the key of the session the changes were made in
};

// True when the pending changes were committed.
absl::StatusOr<bool> CommitTransaction(CardContext& ctx, const TransactionRequest& request);
absl::Status AbortTransaction(CardContext& ctx, const TransactionRequest& request);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_TRANSACTIONS_H_
