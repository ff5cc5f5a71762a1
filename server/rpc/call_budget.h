// CallBudget: how many TapService calls, and how many bytes of work, each caller and all
// callers together may have in flight at once (docs/server.md, "Limits and memory").
//
//   CallBudget budget({.max_calls = 16, .max_calls_per_caller = 4,
//                      .max_bytes = 256 << 20, .max_bytes_per_caller = 128 << 20});
//   DESFIRED_RETURN_IF_ERROR(budget.AddCall(caller));     // for the call's life
//   DESFIRED_RETURN_IF_ERROR(budget.AddBytes(caller, n)); // while a message is worked on
//   ... budget.ReleaseBytes(caller, n); budget.EndCall(caller);
//
// A caller is a principal name (a token's NAME, "cert:CN"); the empty name stands for every
// caller the server cannot identify (no tokens file, or none presented): anonymous callers
// share one per-caller budget, so together they can never take more than one caller's share.
//
// Refusals are RESOURCE_EXHAUSTED with reason TOO_MANY_CALLS or IN_FLIGHT_BYTES and the
// metadata "limit" (the flag of the limit reached) and "max" (its value). A limit of 0 is no
// limit.
//
// CallHold is what one call holds of a budget, released when the hold is destroyed:
//
//   CallHold hold(budget);                                // nullptr: no limits
//   DESFIRED_RETURN_IF_ERROR(hold.AddCall(caller));       // until ~CallHold
//   DESFIRED_RETURN_IF_ERROR(hold.Charge(n));             // until ReleaseBytes or ~CallHold
//
// CallBudget is thread-safe; a CallHold is thread-compatible (one call's callbacks use it, one
// at a time).
#ifndef DESFIRED_SERVER_RPC_CALL_BUDGET_H_
#define DESFIRED_SERVER_RPC_CALL_BUDGET_H_

#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace desfired::server {

class CallBudget {
 public:
  // Reasons of the refusals (names of desfired.v1.ErrorReason values).
  static constexpr absl::string_view kReasonTooManyCalls = "TOO_MANY_CALLS";
  static constexpr absl::string_view kReasonInFlightBytes = "IN_FLIGHT_BYTES";

  struct Options {
    size_t max_calls = 0;             // --max_tap_calls
    size_t max_calls_per_caller = 0;  // --max_tap_calls_per_caller
    size_t max_bytes = 0;             // --max_tap_inflight_bytes
    size_t max_bytes_per_caller = 0;  // --max_tap_inflight_bytes_per_caller
  };
  explicit CallBudget(Options options) : options_(options) {}
  CallBudget(const CallBudget&) = delete;
  CallBudget& operator=(const CallBudget&) = delete;

  // Counts one more call of `caller`, or refuses it (TOO_MANY_CALLS) and counts nothing.
  absl::Status AddCall(const std::string& caller) ABSL_LOCKS_EXCLUDED(mu_);
  void EndCall(const std::string& caller) ABSL_LOCKS_EXCLUDED(mu_);
  // Counts `bytes` more for `caller`, or refuses them (IN_FLIGHT_BYTES) and counts nothing.
  absl::Status AddBytes(const std::string& caller, size_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  void ReleaseBytes(const std::string& caller, size_t bytes) ABSL_LOCKS_EXCLUDED(mu_);

  size_t calls() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t bytes() const ABSL_LOCKS_EXCLUDED(mu_);
  const Options& options() const { return options_; }

 private:
  struct Use {
    size_t calls = 0;
    size_t bytes = 0;
  };
  struct Kind;
  static const Kind kCalls;
  static const Kind kBytes;
  absl::Status Add(const Kind& kind, const std::string& caller, size_t amount)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Release(const Kind& kind, const std::string& caller, size_t amount) ABSL_LOCKS_EXCLUDED(mu_);
  void DropIfUnused(const std::string& caller) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  Use total_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Use> callers_ ABSL_GUARDED_BY(mu_);
};

// One call's share of a CallBudget (the budget must outlive the hold).
class CallHold {
 public:
  explicit CallHold(CallBudget* budget) : budget_(budget) {}
  ~CallHold();
  CallHold(const CallHold&) = delete;
  CallHold& operator=(const CallHold&) = delete;

  // CallBudget::AddCall for `caller`, the caller of every later Charge; at most once.
  absl::Status AddCall(std::string caller);
  // CallBudget::AddBytes of `bytes` in place of what an earlier Charge still holds.
  absl::Status Charge(size_t bytes);
  void ReleaseBytes();

 private:
  CallBudget* const budget_;
  std::string caller_;
  bool has_call_ = false;  // counted by AddCall
  size_t bytes_ = 0;       // charged by Charge
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_CALL_BUDGET_H_
