// TapPipeline: parser + reconciler + summary in one object, the unit that desfirectl and the
// server run per input stream.
//
//   TapPipelineConfig config;            // keys/tables optional; they must outlive the pipeline
//   config.keys = &store;
//   DESFIRED_ASSIGN_OR_RETURN(auto pipeline, TapPipeline::Create(config));
//   TapResult r;
//   pipeline->Process(index, bytes, backend_time, &r);
//   ... pipeline->summary() ...
//
// Thread-compatible: one pipeline per stream (state: dedup, clock offsets, summary).
#ifndef DESFIRED_CORE_TAP_PIPELINE_H_
#define DESFIRED_CORE_TAP_PIPELINE_H_

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "core/keys/key_store.h"
#include "core/tap/id_table.h"
#include "core/tap/mac_verifier.h"
#include "core/tap/parser.h"
#include "core/tap/reconciler.h"
#include "core/tap/summary.h"

namespace desfired::tap {

struct TapPipelineConfig {
  ParserOptions parser;
  ReconcilerOptions reconciler;
  const keys::KeyStore* keys = nullptr;
  const IdTable* terminals = nullptr;
  const IdTable* tariffs = nullptr;
};

class TapPipeline {
 public:
  // INVALID_ARGUMENT when a key cannot be prepared or the year window is empty.
  static absl::StatusOr<std::unique_ptr<TapPipeline>> Create(const TapPipelineConfig& config);

  // Parses and reconciles one record and counts it in the summary.
  void Process(uint64_t index, ByteSpan raw, std::optional<int64_t> backend_time, TapResult* out);
  // Process() for `count` records: raws[i] gets the index first_index + i and the backend time
  // backend_times[i] (backend_times may be nullptr: none). The results equal Process()'s, one
  // record after the other; the MACs are verified in batches (TapParser::ParseBatch).
  void ProcessBatch(uint64_t first_index, const ByteSpan* raws,
                    const std::optional<int64_t>* backend_times, size_t count, TapResult* out);
  // The stateful steps alone (reconciler, summary) for a result that a TapParser with this
  // pipeline's parser options and keys has filled: parsing may then run on other threads, and
  // Reconcile() here in input order. Parse() followed by Reconcile() equals Process().
  void Reconcile(std::optional<int64_t> backend_time, TapResult* r);
  // Reconcile() for results[0..count) in order (backend_times may be nullptr: none).
  void ReconcileBatch(const std::optional<int64_t>* backend_times, TapResult* results,
                      size_t count);
  // Records an input that could not be read as bytes (REJECTED), and counts it.
  void ProcessUnreadable(uint64_t index, ByteSpan raw, absl::string_view error, TapResult* out);

  const TapSummary& summary() const { return summary_; }
  // TapReconciler::dedup_evictions(): non-zero once duplicate detection has lost a key.
  uint64_t dedup_evictions() const { return reconciler_.dedup_evictions(); }

 private:
  TapPipeline(MacVerifier verifier, const TapPipelineConfig& config);
  MacVerifier verifier_;
  TapParser parser_;
  TapReconciler reconciler_;
  TapSummary summary_;
};

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_PIPELINE_H_
