#include "core/cardops/values.h"

#include <limits>
#include <utility>

#include "core/cardops/errors.h"
#include "core/cardops/file_access.h"
#include "core/cardops/session.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {
namespace {

using desfire::FileType;

// The session may read the value: GetValue is allowed by a free right, by a right naming the
// authenticated key, or by the free GetValue option.
bool CanReadValue(const desfire::FileSettings& s, const Opened& opened) {
  if (s.type != FileType::kValue) return false;
  if (s.free_get_value) return true;
  for (uint8_t right : {s.access.read, s.access.write, s.access.read_write}) {
    if (right == desfire::kAccessFree) return true;
    if (opened.key.key != nullptr && right == opened.key.number) return true;
  }
  return false;
}

using ValueChangeFn = absl::Status (desfire::DesfireCard::*)(uint8_t, int32_t, desfire::TxOptions);

absl::StatusOr<ValueChange> ChangeValue(CardContext& ctx, const ValueChangeRequest& request,
                                        ValueChangeFn change) {
  return RunOp<ValueChange>(ctx, [&](ValueChange& out) -> absl::Status {
    const uint8_t file_no = request.file_no;
    const bool commit = !request.defer_commit;
    desfire::TxOptions tx{.commit = commit};
    if (!request.tmac.empty()) {
      if (!commit) return InvalidFieldError("defer_commit", "a Transaction MAC needs the commit");
      DESFIRED_RETURN_IF_ERROR(PrepareTransactionMac(ctx, request.tmac, tx));
    }
    DESFIRED_ASSIGN_OR_RETURN(OpenedFile file,
                              OpenFileOf(ctx, request, {.type = FileType::kValue}));
    const Opened& opened = file.opened;
    const FileUse& use = file.use;
    const bool readable = CanReadValue(use.settings, opened);
    if (readable) {
      DESFIRED_ASSIGN_OR_RETURN(out.value_before, ctx.card->GetValue(file_no));
      DESFIRED_RETURN_IF_ERROR(Alive(ctx));
    }
    PendingValue pending;
    if (out.value_before.has_value()) {
      pending.value_before = out.value_before;
      const int64_t delta = change == &desfire::DesfireCard::Debit ? -int64_t{request.amount}
                                                                   : int64_t{request.amount};
      const int64_t after = int64_t{*out.value_before} + delta;
      if (after >= std::numeric_limits<int32_t>::min() &&
          after <= std::numeric_limits<int32_t>::max()) {
        pending.expected_after = static_cast<int32_t>(after);
      }
    }
    if (ctx.before_commit) {
      tx.before_commit = [&ctx, &pending] { return ctx.before_commit(pending); };
    }
    DESFIRED_RETURN_IF_ERROR((ctx.card->*change)(file_no, request.amount, std::move(tx)));
    NoteChange(ctx, commit);
    out.committed = commit;
    out.reader_id = request.tmac.reader_id;
    if (!request.tmac.key_name.empty()) {
      DESFIRED_ASSIGN_OR_RETURN(out.transaction_mac,
                                VerifyCommittedMac(ctx, request.tmac, opened.aid));
    }
    if (readable && commit) {
      // The change is committed: a failed read-back is no error of the call. The value after
      // is then the one the transaction committed: the value before with the change applied.
      absl::StatusOr<int32_t> after = absl::CancelledError("not read");
      if (Alive(ctx).ok()) after = ctx.card->GetValue(file_no);
      if (after.ok()) {
        out.value_after = *after;
      } else if (pending.expected_after.has_value()) {
        out.value_after = pending.expected_after;
        out.value_after_derived = true;
      }
    }
    Release(ctx, file_no, use);
    return absl::OkStatus();
  });
}

}  // namespace

absl::StatusOr<int32_t> GetValue(CardContext& ctx, const GetValueRequest& request) {
  return RunOp<int32_t>(ctx, [&](int32_t& out) -> absl::Status {
    DESFIRED_ASSIGN_OR_RETURN(OpenedFile file,
                              OpenFileOf(ctx, request, {.type = FileType::kValue}));
    DESFIRED_ASSIGN_OR_RETURN(out, ctx.card->GetValue(request.file_no));
    Release(ctx, request.file_no, file.use);
    return absl::OkStatus();
  });
}

absl::StatusOr<ValueChange> Credit(CardContext& ctx, const ValueChangeRequest& request) {
  return ChangeValue(ctx, request, &desfire::DesfireCard::Credit);
}

absl::StatusOr<ValueChange> Debit(CardContext& ctx, const ValueChangeRequest& request) {
  return ChangeValue(ctx, request, &desfire::DesfireCard::Debit);
}

absl::StatusOr<ValueChange> LimitedCredit(CardContext& ctx, const ValueChangeRequest& request) {
  return ChangeValue(ctx, request, &desfire::DesfireCard::LimitedCredit);
}

}  // namespace desfired::cardops
