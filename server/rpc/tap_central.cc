#include "server/rpc/tap_central.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/util/status_reason.h"
#include "proto/convert/tap_wire.h"
#include "server/rpc/tap_input.h"

namespace desfired::server {
namespace {

// The outcome of the central table that is not a start-up error, with the reason the client
// acts on (retry: UNAVAILABLE).
absl::Status Unavailable(const absl::Status& s) {
  return WithReason(absl::UnavailableError(absl::StrCat(
                        "the fleet's duplicate check (--tap_dedup postgresql) is unavailable; "
                        "nothing of this batch was answered: retry it: ",
                        s.message())),
                    "DEDUP_UNAVAILABLE");
}

}  // namespace

absl::StatusOr<std::unique_ptr<CentralTapDedup>> CentralTapDedup::Start(Options options,
                                                                        std::string* warning) {
  if (options.connections == 0) options.connections = 1;
  auto central = std::unique_ptr<CentralTapDedup>(new CentralTapDedup(std::move(options)));
  absl::StatusOr<std::unique_ptr<fleet::TapDedupClaims>> probe =
      fleet::TapDedupClaims::Connect(central->options_.conninfo, central->options_.claimed_by);
  if (!probe.ok()) {
    if (probe.status().code() != absl::StatusCode::kUnavailable) return probe.status();
    *warning = absl::StrCat(
        "--tap_dedup postgresql: the central database cannot be reached now (ParseTaps and "
        "ParseTapStream fail with UNAVAILABLE until it can): ",
        probe.status().message());
  }
  for (size_t i = 0; i < central->options_.connections; ++i) {
    central->threads_.emplace_back([c = central.get()] { c->Work(); });
  }
  return central;
}

CentralTapDedup::~CentralTapDedup() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void CentralTapDedup::Run(absl::AnyInvocable<void(Session&) &&> job) {
  absl::MutexLock lock(&mu_);
  jobs_.push_back(std::move(job));
}

void CentralTapDedup::Work() {
  Session session(&options_);
  for (;;) {
    absl::AnyInvocable<void(Session&) &&> job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](CentralTapDedup* c)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) { return c->stopping_ || !c->jobs_.empty(); },
          this));
      if (jobs_.empty()) return;  // stopping, and every job ran
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    std::move(job)(session);
  }
}

absl::StatusOr<uint64_t> CentralTapDedup::Session::FlagDuplicates(
    absl::Span<tap::TapResult> results) {
  // The keys to check: not REJECTED (no key), not a duplicate already (its first sighting in
  // this stream is checked, or was).
  std::vector<size_t> which;
  std::vector<int64_t> times;
  std::string key_bytes;
  std::vector<size_t> ends;
  which.reserve(results.size());
  key_bytes.reserve(results.size() * tap::TapResult::kMaxDedupKeyLength);
  for (size_t i = 0; i < results.size(); ++i) {
    const tap::TapResult& r = results[i];
    if (r.status == tap::TapStatus::kRejected || r.has(tap::TapWarning::kDuplicateTap)) continue;
    char key[tap::TapResult::kMaxDedupKeyLength];
    key_bytes.append(key, r.WriteDedupKey(key));
    ends.push_back(key_bytes.size());
    which.push_back(i);
    times.push_back(r.fields.timestamp);
  }
  if (which.empty()) return 0;
  std::vector<absl::string_view> keys;
  keys.reserve(which.size());
  for (size_t i = 0, begin = 0; i < ends.size(); begin = ends[i++]) {
    keys.emplace_back(key_bytes.data() + begin, ends[i] - begin);
  }
  if (claims_ == nullptr) {
    absl::StatusOr<std::unique_ptr<fleet::TapDedupClaims>> c =
        fleet::TapDedupClaims::Connect(options_->conninfo, options_->claimed_by);
    if (!c.ok()) return Unavailable(c.status());
    claims_ = *std::move(c);
  }
  absl::StatusOr<std::vector<bool>> first = claims_->Claim(keys, times);
  if (!first.ok()) return Unavailable(first.status());
  uint64_t flagged = 0;
  for (size_t k = 0; k < which.size(); ++k) {
    if ((*first)[k]) continue;
    results[which[k]].add(tap::TapWarning::kDuplicateTap);
    ++flagged;
  }
  return flagged;
}

absl::StatusOr<uint64_t> ParseCentral(CentralTapDedup::Session& session, tap::TapPipeline& pipeline,
                                      uint64_t first_index, size_t records,
                                      grpc::ByteBuffer* request, int view, TextBuffer* out) {
  // The results of the whole batch are kept until the central check, with copies of their
  // bytes (a record decoded from raw_hex lives in a buffer reused for the next record).
  std::vector<tap::TapResult> results;
  results.reserve(records);
  std::vector<uint8_t> raw;
  raw.reserve(records * kMaxTapRecordBytes);
  absl::Status parsed =
      ProcessTapRequest(pipeline, first_index, request, [&](const tap::TapResult& r) {
        results.push_back(r);
        raw.insert(raw.end(), r.raw.begin(), r.raw.end());
      });
  if (!parsed.ok()) return parsed;
  for (size_t i = 0, offset = 0; i < results.size(); offset += results[i++].raw.size()) {
    results[i].raw = ByteSpan(raw.data() + offset, results[i].raw.size());
  }
  absl::StatusOr<uint64_t> flagged = session.FlagDuplicates(absl::MakeSpan(results));
  if (!flagged.ok()) return flagged.status();
  const auto result_view = static_cast<v1::TapResultView>(view);
  for (const tap::TapResult& r : results) AppendTapResultField(r, result_view, 1, out);
  return *flagged;
}

tap::TapSummary WithCentralDuplicates(tap::TapSummary summary, uint64_t central_duplicates) {
  summary.warnings[static_cast<int>(tap::TapWarning::kDuplicateTap)] += central_duplicates;
  return summary;
}

}  // namespace desfired::server
