// CentralTapDedup: TapService's duplicate suppression across instances (--tap_dedup postgresql,
// docs/fleet.md "Taps parsed by many instances"). Each ParseTaps batch and ParseTapStream chunk
// is reconciled as always (its stream's own duplicate detection included), then the keys of its
// taps that are not already duplicates are recorded in the central table (core/fleet/tap_dedup.h)
// in one statement: a key that another call — on this instance or another — recorded first is
// flagged DUPLICATE_TAP, as the local reconciler flags a key it has seen. N instances then flag
// the same taps as one.
//
// The work runs on this class's threads (one PostgreSQL connection each), never on gRPC's: a
// batch or chunk is parsed, claimed, encoded and answered there (ParseCentral below).
//
//   auto central = CentralTapDedup::Start({.conninfo = ..., .claimed_by = host}, &warning);
//   central->Run([...](CentralTapDedup::Session& session) {
//     absl::StatusOr<uint64_t> added =
//         ParseCentral(session, pipeline, 0, records, &request, view, &out);
//     ... answer ...
//   });
//
// PostgreSQL unreachable: the batch or chunk fails with UNAVAILABLE (reason DEDUP_UNAVAILABLE)
// and nothing of it is answered — results without the fleet's duplicate check would let a tap
// be cleared twice. The caller retries (a stream resumes from the chunk named, in a new stream).
//
// Thread-safe.
#ifndef DESFIRED_SERVER_RPC_TAP_CENTRAL_H_
#define DESFIRED_SERVER_RPC_TAP_CENTRAL_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "core/fleet/tap_dedup.h"
#include "core/tap/pipeline.h"
#include "core/util/text_buffer.h"
#include "grpcpp/support/byte_buffer.h"

namespace desfired::server {

class CentralTapDedup {
 public:
  struct Options {
    std::string conninfo;    // libpq connection string (from --tap_dedup_conn's file)
    std::string claimed_by;  // stored with each key this instance records first (host name)
    size_t connections = 4;  // threads, each with its own connection
  };
  // Connects once to check the table. FAILED_PRECONDITION when the database is reachable and
  // has no tap_dedup table this role may insert into (a start-up error); when it cannot be
  // reached, OK with `*warning` saying so (calls fail with UNAVAILABLE until it can).
  static absl::StatusOr<std::unique_ptr<CentralTapDedup>> Start(Options options,
                                                                std::string* warning);
  // Runs the jobs queued, then stops the threads.
  ~CentralTapDedup();
  CentralTapDedup(const CentralTapDedup&) = delete;
  CentralTapDedup& operator=(const CentralTapDedup&) = delete;

  // One thread's connection, for the job running on it.
  class Session {
   public:
    // Flags DUPLICATE_TAP on every result of `results` (REJECTED ones and duplicates already
    // aside) whose key was recorded centrally before; records the others. Returns how many it
    // flagged. UNAVAILABLE (reason DEDUP_UNAVAILABLE) when the database cannot be reached or
    // refuses: then no result is changed.
    absl::StatusOr<uint64_t> FlagDuplicates(absl::Span<tap::TapResult> results);

   private:
    friend class CentralTapDedup;
    explicit Session(const Options* options) : options_(options) {}
    const Options* options_;
    std::unique_ptr<fleet::TapDedupClaims> claims_;  // connected on first use, kept after
  };

  // Runs `job` on one of the threads, after the jobs queued before it.
  void Run(absl::AnyInvocable<void(Session&) &&> job);

 private:
  explicit CentralTapDedup(Options options) : options_(std::move(options)) {}
  void Work();

  const Options options_;
  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void(Session&) &&>> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// Parses the `records` records of `request` (scanned) with `pipeline` as records first_index
// and on, flags the duplicates the central table knows (Session::FlagDuplicates) and appends
// the results in `view` to `out`, as the `results` (field 1) of the response. Returns the
// DUPLICATE_TAP flags the central table added. Decoding errors as ProcessTapRequest;
// UNAVAILABLE as FlagDuplicates (then nothing is appended).
absl::StatusOr<uint64_t> ParseCentral(CentralTapDedup::Session& session, tap::TapPipeline& pipeline,
                                      uint64_t first_index, size_t records,
                                      grpc::ByteBuffer* request, int view, TextBuffer* out);

// `summary` with `central_duplicates` more DUPLICATE_TAP warnings (the flags the pipeline did not
// count: it counted each result before the central check).
tap::TapSummary WithCentralDuplicates(tap::TapSummary summary, uint64_t central_duplicates);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_TAP_CENTRAL_H_
