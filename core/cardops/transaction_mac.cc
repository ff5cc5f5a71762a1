#include "core/cardops/transaction_mac.h"

#include <string>

#include "core/cardops/errors.h"
#include "core/cardops/session.h"
#include "core/desfire/tmac.h"
#include "core/keys/key_store.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {
namespace {

constexpr size_t kUidLength = 7;

}  // namespace

absl::Status PrepareTransactionMac(const CardContext& ctx, const TransactionMacRequest& request,
                                   desfire::TxOptions& tx) {
  if (!request.reader_id.empty() && request.reader_id.size() != desfire::kTmriLength) {
    return InvalidFieldError("reader_id", "a reader id is 16 bytes");
  }
  if (!request.key_name.empty()) {
    DESFIRED_ASSIGN_OR_RETURN(const keys::Key* key, FindKey(ctx, request.key_name));
    if (key->type != crypto::KeyType::kAes128) {
      return InvalidFieldError("tmac_key", "the Transaction MAC key is an AES-128 key");
    }
  }
  tx.reader_id = request.reader_id;
  tx.transaction_mac = !request.key_name.empty();
  return absl::OkStatus();
}

absl::StatusOr<TransactionMacResult> VerifyCommittedMac(CardContext& ctx,
                                                        const TransactionMacRequest& request,
                                                        uint32_t aid) {
  const std::optional<desfire::TransactionMac>& mac = ctx.card->last_transaction_mac();
  if (!mac.has_value()) return absl::InternalError("the commit returned no Transaction MAC");
  TransactionMacResult out{.tmc = mac->tmc, .tmv = mac->tmv, .reader_id = mac->reader_id};
  absl::StatusOr<Bytes> uid = ctx.uid;
  if (uid->size() != kUidLength) uid = ctx.card->GetCardUid();
  absl::StatusOr<const keys::Key*> key = FindKey(ctx, request.key_name);
  absl::StatusOr<keys::SecretBytes> value =
      key.ok() ? keys::CardKeyFor(**key, ctx.uid, aid) : key.status();
  if (!uid.ok() || !value.ok()) {
    out.unverified_reason = std::string((!uid.ok() ? uid.status() : value.status()).message());
    return out;
  }
  out.verified = desfire::VerifyTransactionMac(value->view(), *uid, *mac);
  return out;
}

}  // namespace desfired::cardops
