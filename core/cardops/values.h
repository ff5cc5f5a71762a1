// Value files: GetValue, and the value changes Credit, Debit and LimitedCredit, which report
// the value before and after the change when the session may read it.
//
//   DESFIRED_ASSIGN_OR_RETURN(ValueChange change,
//                             Debit(ctx, {.target = t, .aid = 0xF51001,
//                                         .auth = {.name = "debit", .key_no = 2},
//                                         .file_no = 1, .amount = 150}));
//   // change.committed, change.value_before = 2500, change.value_after = 2350
//
// Value changes: committed = !defer_commit; value_before is read with GetValue when the file's
// access rights let the session read the value (a right that is free or names the
// authenticated key, or free GetValue); value_after likewise after a committed change. A failed
// read after the change is not an error of the call (the change is committed): value_after is
// then derived from value_before and the amount (value_after_derived; the card committed exactly
// that change to the value it answered before, within one transaction) when value_before was
// read, and left unset otherwise. Between the change and CommitTransaction, ctx.before_commit is
// called with the value before and the value expected after (PendingValue, context.h); its error
// aborts the change (commit state NOT_COMMITTED).
//
// All four run the prologue on request.aid (session.h) and open the file (file_access.h), and
// fail with their errors and those of the DesfireCard calls (core/desfire/card.h; Debit beyond
// the lower limit: OUT_OF_RANGE / INSUFFICIENT_VALUE, commit state NOT_COMMITTED). A failure
// resets ctx.session.
//
// Thread-compatible: on the thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_VALUES_H_
#define DESFIRED_CORE_CARDOPS_VALUES_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "core/cardops/context.h"
#include "core/cardops/target.h"
#include "core/cardops/transaction_mac.h"
#include "core/desfire/card_types.h"

namespace desfired::cardops {

struct GetValueRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};
  uint8_t file_no = 0;
  std::optional<desfire::CommMode> comm_mode = {};  // the override (file_access.h)
};

absl::StatusOr<int32_t> GetValue(CardContext& ctx, const GetValueRequest& request);

// Credit, Debit or LimitedCredit.
struct ValueChangeRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};
  uint8_t file_no = 0;
  int32_t amount = 0;                               // 1..INT32_MAX
  std::optional<desfire::CommMode> comm_mode = {};  // the override (file_access.h)
  bool defer_commit = false;                        // leave the change for CommitTransaction
  // Transaction MAC (transaction_mac.h): CommitReaderID and the TMC ‖ TMV commit. Needs the
  // commit (INVALID_ARGUMENT with defer_commit).
  TransactionMacRequest tmac = {};
};

struct ValueChange {
  bool committed = false;
  std::optional<int32_t> value_before;  // when the session may read the value
  std::optional<int32_t> value_after;   // likewise, after a committed change
  // value_after is value_before ∓ amount because the read after the commit failed.
  bool value_after_derived = false;
  // When the request asked for the Transaction MAC (tmac.key_name) and the change committed.
  std::optional<TransactionMacResult> transaction_mac;
  Bytes reader_id;  // the reader id committed with the change (tmac.reader_id)
};

absl::StatusOr<ValueChange> Credit(CardContext& ctx, const ValueChangeRequest& request);
absl::StatusOr<ValueChange> Debit(CardContext& ctx, const ValueChangeRequest& request);
absl::StatusOr<ValueChange> LimitedCredit(CardContext& ctx, const ValueChangeRequest& request);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_VALUES_H_
