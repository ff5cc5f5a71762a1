#include "server/rpc/call_budget.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/util/status_reason.h"

namespace desfired::server {
namespace {

// RESOURCE_EXHAUSTED with `reason` and the limit that was reached; a per-caller limit names
// the caller (its principal name, never a token).
absl::Status Exhausted(absl::string_view reason, absl::string_view limit, size_t max,
                       absl::string_view what, const std::string* caller) {
  std::string text = absl::StrCat(what, " (--", limit, "=", max);
  if (caller != nullptr) {
    absl::StrAppend(&text, ", ", caller->empty() ? "anonymous callers" : "caller " + *caller);
  }
  absl::StrAppend(&text, "); retry later");
  absl::Status status = WithReason(absl::ResourceExhaustedError(text), reason);
  status = apdu::WithErrorMetadata(std::move(status), apdu::kMetadataLimit, limit);
  return apdu::WithErrorMetadata(std::move(status), apdu::kMetadataMax, absl::StrCat(max));
}

bool Over(size_t used, size_t more, size_t max) { return max != 0 && used + more > max; }

}  // namespace

// One kind of use (calls or bytes): its field, its limits and how a refusal names them.
struct CallBudget::Kind {
  size_t Use::*field;
  size_t CallBudget::Options::*max;
  size_t CallBudget::Options::*max_per_caller;
  absl::string_view reason;
  absl::string_view limit;
  absl::string_view limit_per_caller;
  absl::string_view what;
};

const CallBudget::Kind CallBudget::kCalls = {&Use::calls,
                                             &Options::max_calls,
                                             &Options::max_calls_per_caller,
                                             kReasonTooManyCalls,
                                             "max_tap_calls",
                                             "max_tap_calls_per_caller",
                                             "TapService calls at once"};
const CallBudget::Kind CallBudget::kBytes = {&Use::bytes,
                                             &Options::max_bytes,
                                             &Options::max_bytes_per_caller,
                                             kReasonInFlightBytes,
                                             "max_tap_inflight_bytes",
                                             "max_tap_inflight_bytes_per_caller",
                                             "request bytes in flight"};

absl::Status CallBudget::Add(const Kind& kind, const std::string& caller, size_t amount) {
  absl::MutexLock lock(&mu_);
  size_t& used = callers_[caller].*kind.field;
  size_t& total = total_.*kind.field;
  absl::Status refused;
  if (Over(total, amount, options_.*kind.max)) {
    refused = Exhausted(kind.reason, kind.limit, options_.*kind.max,
                        absl::StrCat("too many ", kind.what, " on this server"), nullptr);
  } else if (Over(used, amount, options_.*kind.max_per_caller)) {
    refused = Exhausted(kind.reason, kind.limit_per_caller, options_.*kind.max_per_caller,
                        absl::StrCat("too many ", kind.what, " from one caller"), &caller);
  }
  if (!refused.ok()) {
    DropIfUnused(caller);
    return refused;
  }
  used += amount;
  total += amount;
  return absl::OkStatus();
}

void CallBudget::Release(const Kind& kind, const std::string& caller, size_t amount) {
  absl::MutexLock lock(&mu_);
  auto it = callers_.find(caller);
  if (it == callers_.end()) return;
  size_t& used = it->second.*kind.field;
  const size_t n = amount < used ? amount : used;
  used -= n;
  total_.*kind.field -= n;
  DropIfUnused(caller);
}

absl::Status CallBudget::AddCall(const std::string& caller) { return Add(kCalls, caller, 1); }
void CallBudget::EndCall(const std::string& caller) { Release(kCalls, caller, 1); }
absl::Status CallBudget::AddBytes(const std::string& caller, size_t bytes) {
  return Add(kBytes, caller, bytes);
}
void CallBudget::ReleaseBytes(const std::string& caller, size_t bytes) {
  Release(kBytes, caller, bytes);
}

size_t CallBudget::calls() const {
  absl::MutexLock lock(&mu_);
  return total_.calls;
}

size_t CallBudget::bytes() const {
  absl::MutexLock lock(&mu_);
  return total_.bytes;
}

CallHold::~CallHold() {
  ReleaseBytes();
  if (has_call_) budget_->EndCall(caller_);
}

absl::Status CallHold::AddCall(std::string caller) {
  caller_ = std::move(caller);
  if (budget_ == nullptr) return absl::OkStatus();
  absl::Status admitted = budget_->AddCall(caller_);
  has_call_ = admitted.ok();
  return admitted;
}

absl::Status CallHold::Charge(size_t bytes) {
  ReleaseBytes();
  if (budget_ == nullptr) return absl::OkStatus();
  absl::Status admitted = budget_->AddBytes(caller_, bytes);
  if (admitted.ok()) bytes_ = bytes;
  return admitted;
}

void CallHold::ReleaseBytes() {
  if (bytes_ > 0) budget_->ReleaseBytes(caller_, bytes_);
  bytes_ = 0;
}

void CallBudget::DropIfUnused(const std::string& caller) {
  auto it = callers_.find(caller);
  if (it != callers_.end() && it->second.calls == 0 && it->second.bytes == 0) callers_.erase(it);
}

}  // namespace desfired::server
