// Transaction MAC for the value changes (values.h): the reader id a change commits with
// CommitReaderID, the commit that asks for TMC ‖ TMV, and the TMV verified with the
// AppTransactionMACKey from the key store (core/desfire/tmac.h; docs/ev3.md).
//
//   desfire::TxOptions tx{.commit = true};
//   DESFIRED_RETURN_IF_ERROR(PrepareTransactionMac(ctx, request.tmac, tx));
//   DESFIRED_RETURN_IF_ERROR(ctx.card->Debit(file_no, amount, tx));
//   DESFIRED_ASSIGN_OR_RETURN(TransactionMacResult mac,
//                             VerifyTransactionMac(ctx, request.tmac, aid));
//
// Thread-compatible: on the thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_TRANSACTION_MAC_H_
#define DESFIRED_CORE_CARDOPS_TRANSACTION_MAC_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/cardops/context.h"
#include "core/desfire/card.h"
#include "core/util/bytes.h"

namespace desfired::cardops {

// What a change asks of the Transaction MAC. Both empty: nothing (a plain commit).
struct TransactionMacRequest {
  // The AppTransactionMACKey's name in the key store (AES-128; diversified per card when the
  // store says so, with the application's AID). Set: the commit asks for TMC ‖ TMV.
  std::string key_name = {};
  // The reader id (TMRI, 16 bytes) committed with CommitReaderID. Empty: none.
  Bytes reader_id = {};
  bool empty() const { return key_name.empty() && reader_id.empty(); }
};

// The Transaction MAC of a committed change.
struct TransactionMacResult {
  uint32_t tmc = 0;      // the card's Transaction MAC Counter after the change
  Bytes tmv = {};        // 8 bytes, as the card sent them
  Bytes reader_id = {};  // the TMRI committed with it (empty: none)
  // The TMV is the MAC of what this host sent and received in the transaction, under the
  // session key of counter `tmc` (compared in constant time). False: the card's answer does not
  // match the host's record of the transaction (another reader's commands in it, a wrong key,
  // a forged answer).
  bool verified = false;
  // Why it could not be checked at all (the UID or the key unavailable); empty otherwise.
  std::string unverified_reason = {};
};

// Checks `request` before anything is sent and sets tx.reader_id and tx.transaction_mac.
// INVALID_ARGUMENT (field "reader_id") for a reader id that is not 16 bytes;
// FAILED_PRECONDITION / KEY_NOT_FOUND for an unknown key; INVALID_ARGUMENT (field "tmac_key")
// for a key that is not AES-128.
absl::Status PrepareTransactionMac(const CardContext& ctx, const TransactionMacRequest& request,
                                   desfire::TxOptions& tx);

// After a commit that asked for the Transaction MAC (request.key_name set): the card's TMC and
// TMV, verified with the key (AN10922-diversified with `aid` when the store says so) and the
// card's 7-byte UID (ctx.uid, or GetCardUID for a card that shows a random one). The change is
// committed by then, so nothing here fails the call: a UID or key that cannot be had leaves
// `verified` false with the reason. INTERNAL only when the commit left no Transaction MAC.
absl::StatusOr<TransactionMacResult> VerifyCommittedMac(CardContext& ctx,
                                                        const TransactionMacRequest& request,
                                                        uint32_t aid);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_TRANSACTION_MAC_H_
