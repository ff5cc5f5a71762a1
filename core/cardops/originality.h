// VerifyOriginality: is the card on the reader a genuine NXP chip? GetVersion names the
// product (core/desfire/product.h), ReadSig gives the signature, and the signature of the UID
// is checked under NXP's keys for that product and the extra keys the operator trusts
// (ctx.originality_keys; core/desfire/originality.h).
//
//   DESFIRED_ASSIGN_OR_RETURN(OriginalityCheck c, VerifyOriginality(ctx, {.target = target}));
//   if (c.result.verdict == desfire::OriginalityVerdict::kGenuine) { ... c.result.key_name ... }
//
// Runs the prologue at the card level without a key (session.h) and fails with its errors, those
// of GetVersion and ReadSig (core/desfire/card.h: a card without ReadSig answers
// ILLEGAL_COMMAND; a wrong status or length is INTERNAL / PROTOCOL_ERROR), and
// FAILED_PRECONDITION when the card hides its UID (random UID: the signature is over the real
// one, which only an authenticated GetCardUID tells). A failure resets ctx.session.
//
// Thread-compatible: on the thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_ORIGINALITY_H_
#define DESFIRED_CORE_CARDOPS_ORIGINALITY_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/cardops/context.h"
#include "core/cardops/target.h"
#include "core/desfire/card_types.h"
#include "core/desfire/originality.h"
#include "core/util/bytes.h"

namespace desfired::cardops {

struct VerifyOriginalityRequest {
  Target target = {};
};

struct OriginalityCheck {
  std::string reader = {};
  Bytes uid = {};  // the UID that was signed (GetVersion's)
  desfire::CardVersion version = {};
  Bytes signature = {};  // r ‖ s as the card sent it
  desfire::OriginalityResult result = {};
};

absl::StatusOr<OriginalityCheck> VerifyOriginality(CardContext& ctx,
                                                   const VerifyOriginalityRequest& request);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_ORIGINALITY_H_
