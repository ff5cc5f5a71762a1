// CardContext: what a card operation works with — the DesfireCard of one connected card, its
// UID, the key store, the job's liveness check — and the SessionMemo that lets one operation
// continue the card session an earlier one opened.
//
//   CardContext ctx;                 // one per connected card, kept by the reader's worker
//   ctx.card = &desfire_card;        // borrowed
//   ctx.uid = uid;                   // refreshed for every job
//   ctx.keys = &store;
//   ctx.check_alive = [&job] { return job.CheckAlive(); };
//   absl::StatusOr<ValueChange> r = Debit(ctx, request);   // values.h
//
// Sessions and transactions. ctx.session remembers what the card's session was opened with. A
// call on the same card, application, key name, key number and scheme continues that session
// (no SelectApplication, no authentication), so changes a call left open with defer_commit are
// still there for the next call and for CommitTransaction / AbortTransaction. Anything else
// selects again, which discards an open transaction (as the API says). Any failed operation
// resets ctx.session (the worker also aborts an open transaction after a failed job), so the
// next call starts afresh. CommitTransaction answers "not committed" without touching the card
// when the session it names is not the current one or no change is pending (transactions.h).
//
// Thread-compatible: the operations run on the one thread (the reader's worker) that owns the
// CardContext and its DesfireCard.
#ifndef DESFIRED_CORE_CARDOPS_CONTEXT_H_
#define DESFIRED_CORE_CARDOPS_CONTEXT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "core/desfire/card.h"
#include "core/desfire/originality.h"
#include "core/keys/key_store.h"
#include "core/tap/pipeline.h"
#include "core/util/bytes.h"

namespace desfired::cardops {

// What the card's current session was opened with by the operations (see "Sessions and
// transactions" above). Kept in the CardContext; the operations maintain it.
struct SessionMemo {
  bool open = false;  // the fields below describe the card's session
  Bytes uid = {};
  uint32_t aid = 0;
  std::string key_name = {};  // empty: not authenticated
  uint8_t key_number = 0;
  desfire::AuthScheme scheme = desfire::AuthScheme::kNone;
  bool pending = false;  // a change made with defer_commit waits for CommitTransaction
  // Files whose settings were guessed from an override (file number -> the mode assumed;
  // file_access.h).
  absl::flat_hash_map<uint8_t, desfire::CommMode> guessed;

  void Reset() { *this = SessionMemo(); }
};

// A value change about to be committed (CardContext::before_commit).
struct PendingValue {
  std::optional<int32_t> value_before;    // when the session could read it
  std::optional<int32_t> expected_after;  // value_before ± amount
};

// What an operation works with. The worker keeps one per connected card (like the DesfireCard)
// and refreshes uid, atr and check_alive for every job; `session` must survive between jobs on
// the same DesfireCard for defer_commit to work (a fresh CardContext is safe: calls then never
// continue a session).
struct CardContext {
  desfire::DesfireCard* card = nullptr;  // borrowed; over the connected card
  Bytes uid = {};                        // as the reader reports it (FF CA): 7 or 4 bytes
  Bytes atr = {};
  std::string reader = {};
  const keys::KeyStore* keys = nullptr;  // borrowed; nullptr: every key name is KEY_NOT_FOUND
  // ReadTapLog parses with this (the configuration TapService.ParseTaps uses). nullptr: default
  // parser and reconciler options with `keys`.
  const tap::TapPipelineConfig* taps = nullptr;
  // VerifyOriginality tries these after NXP's keys (originality.h). nullptr: NXP's only.
  const std::vector<desfire::OriginalityKey>* originality_keys = nullptr;
  // Called between card steps; a non-OK status (deadline passed, client gone, shutdown) stops
  // the operation and is returned. May be empty.
  std::function<absl::Status()> check_alive;
  // Credit, Debit and LimitedCredit call this after the card accepted the change and before
  // CommitTransaction is sent (not with defer_commit). A non-OK status aborts the change: the
  // call fails with it, commit state NOT_COMMITTED. May be empty. (The ledger's PENDING row.)
  std::function<absl::Status(const PendingValue&)> before_commit;
  SessionMemo session = {};
};

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_CONTEXT_H_
