// The fleet's duplicate suppression of taps (docs/fleet.md, "Taps parsed by many instances"):
// one table in the central PostgreSQL, `tap_dedup`, keyed by the tap's dedup key
// ("<card uid hex>:<unix time>:<terminal id>", TapResult::DedupKey). Every desfired of a parse
// tier records there each tap it reconciles; the first to insert a key wins, and a tap whose
// key is there already — recorded by any instance, in any call — is a duplicate.
//
//   DESFIRED_RETURN_IF_ERROR(MigrateTapDedup(owner_conninfo, "desfired_parse"));  // once
//   DESFIRED_ASSIGN_OR_RETURN(auto claims, TapDedupClaims::Connect(conninfo, "parse-1"));
//   DESFIRED_ASSIGN_OR_RETURN(std::vector<bool> first, claims->Claim(keys, times));
//   // first[i]: this call recorded keys[i]; false: it was recorded before (a duplicate)
//
// A batch is one statement (INSERT ... SELECT FROM unnest($1, $2) ... ON CONFLICT DO NOTHING
// RETURNING, binary parameters), in key order so that two instances inserting overlapping
// batches take the keys' locks in the same order and never deadlock.
//
// Thread-compatible: a TapDedupClaims is one connection, used by one thread at a time.
#ifndef DESFIRED_CORE_FLEET_TAP_DEDUP_H_
#define DESFIRED_CORE_FLEET_TAP_DEDUP_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace desfired::fleet {

// Creates the table `tap_dedup` (and its index on tap time) in the database `conninfo` names,
// idempotently; the connecting role owns it. Unless `role` is empty, grants that role INSERT and
// SELECT on it — never UPDATE, DELETE or TRUNCATE: a parse instance can record taps, not
// forget them. UNAVAILABLE when the server cannot be reached or refuses.
absl::Status MigrateTapDedup(const std::string& conninfo, absl::string_view role);

class TapDedupClaims {
 public:
  // A connection to `conninfo`; `claimed_by` (e.g. the host name) is stored with every key this
  // connection records first. UNAVAILABLE when the server cannot be reached; FAILED_PRECONDITION
  // when the table is missing (MigrateTapDedup) or the role may not insert into it.
  static absl::StatusOr<std::unique_ptr<TapDedupClaims>> Connect(const std::string& conninfo,
                                                                 std::string claimed_by);
  ~TapDedupClaims();
  TapDedupClaims(const TapDedupClaims&) = delete;
  TapDedupClaims& operator=(const TapDedupClaims&) = delete;

  // Records `keys` (dedup keys, with their taps' unix times in `tap_times`, of the same size) in
  // one statement. Result i is true when this call recorded keys[i] first, false when the key
  // was recorded before: by another call or instance, or earlier in `keys`. A connection lost
  // before is re-established first. UNAVAILABLE when the database cannot be reached or the
  // statement fails (nothing of the batch is recorded then: it is one statement);
  // FAILED_PRECONDITION as Connect.
  absl::StatusOr<std::vector<bool>> Claim(absl::Span<const absl::string_view> keys,
                                          absl::Span<const int64_t> tap_times);

  // "postgresql <db> on <host>:<port>", for messages.
  const std::string& where() const { return where_; }

 private:
  struct Connection;
  TapDedupClaims(std::unique_ptr<Connection> conn, std::string claimed_by, std::string where);
  absl::StatusOr<std::vector<bool>> ClaimOnce(absl::Span<const absl::string_view> keys,
                                              absl::Span<const int64_t> tap_times,
                                              std::string* sqlstate);

  std::unique_ptr<Connection> conn_;
  const std::string claimed_by_;
  const std::string where_;
};

}  // namespace desfired::fleet

#endif  // DESFIRED_CORE_FLEET_TAP_DEDUP_H_
