#include "core/tap/pipeline.h"

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

namespace desfired::tap {

absl::StatusOr<std::unique_ptr<TapPipeline>> TapPipeline::Create(const TapPipelineConfig& config) {
  if (config.parser.min_year > config.parser.max_year) {
    return absl::InvalidArgumentError(absl::StrCat("clock window is empty: min year ",
                                                   config.parser.min_year, " > max year ",
                                                   config.parser.max_year));
  }
  if (config.parser.min_year < 1970 || config.parser.max_year > 2106) {
    return absl::InvalidArgumentError("clock window years must lie within 1970..2106");
  }
  keys::KeyStore empty;
  DESFIRED_ASSIGN_OR_RETURN(MacVerifier verifier,
                            MacVerifier::Create(config.keys ? *config.keys : empty));
  return std::unique_ptr<TapPipeline>(new TapPipeline(std::move(verifier), config));
}

TapPipeline::TapPipeline(MacVerifier verifier, const TapPipelineConfig& config)
    : verifier_(std::move(verifier)),
      parser_(config.parser, &verifier_),
      reconciler_(config.reconciler, config.terminals, config.tariffs) {}

void TapPipeline::Process(uint64_t index, ByteSpan raw, std::optional<int64_t> backend_time,
                          TapResult* out) {
  ProcessBatch(index, &raw, &backend_time, 1, out);
}

void TapPipeline::ProcessBatch(uint64_t first_index, const ByteSpan* raws,
                               const std::optional<int64_t>* backend_times, size_t count,
                               TapResult* out) {
  parser_.ParseBatch(first_index, raws, count, out);
  ReconcileBatch(backend_times, out, count);
}

void TapPipeline::ReconcileBatch(const std::optional<int64_t>* backend_times, TapResult* results,
                                 size_t count) {
  reconciler_.ApplyBatch(backend_times, results, count);
  for (size_t i = 0; i < count; ++i) summary_.Add(results[i]);
}

void TapPipeline::Reconcile(std::optional<int64_t> backend_time, TapResult* r) {
  reconciler_.Apply(backend_time, r);
  summary_.Add(*r);
}

void TapPipeline::ProcessUnreadable(uint64_t index, ByteSpan raw, absl::string_view error,
                                    TapResult* out) {
  TapParser::Unreadable(index, raw, error, out);
  summary_.Add(*out);
}

}  // namespace desfired::tap
