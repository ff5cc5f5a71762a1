#include "core/cardops/tap_log.h"

#include <algorithm>
#include <memory>

#include "core/cardops/file_access.h"
#include "core/cardops/session.h"
#include "core/tap/format.h"
#include "core/tap/pipeline.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {
namespace {

const tap::TapPipelineConfig& TapConfig(const CardContext& ctx, tap::TapPipelineConfig& local) {
  if (ctx.taps != nullptr) return *ctx.taps;
  local.keys = ctx.keys;
  return local;
}

// The newest `max_records` (0: all) records of a tap log, oldest first.
absl::StatusOr<std::vector<Bytes>> ReadTapRecords(CardContext& ctx, uint8_t file_no,
                                                  const FileUse& use, uint32_t max_records) {
  if (use.guessed) {
    // The count is unknown: read everything, keep the newest.
    DESFIRED_ASSIGN_OR_RETURN(std::vector<Bytes> all, ctx.card->ReadRecords(file_no, 0, 0));
    if (max_records != 0 && all.size() > max_records) {
      all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(max_records));
    }
    return all;
  }
  if (!desfire::IsRecordFile(use.settings.type)) {
    return WrongFileType(file_no, use.settings.type, "ReadTapLog");
  }
  const uint32_t total = use.settings.current_records;
  const uint32_t count = max_records == 0 ? total : std::min(max_records, total);
  if (count == 0) return std::vector<Bytes>();
  return ctx.card->ReadRecords(file_no, 0, count);
}

}  // namespace

absl::StatusOr<TapLog> ReadTapLog(CardContext& ctx, const ReadTapLogRequest& request) {
  return RunOp<TapLog>(ctx, [&](TapLog& out) -> absl::Status {
    const uint8_t file_no = request.file_no;
    tap::TapPipelineConfig local;
    DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<tap::TapPipeline> pipeline,
                              tap::TapPipeline::Create(TapConfig(ctx, local)));
    const Guess guess{.type = desfire::FileType::kCyclicRecord,
                      .record_size = static_cast<uint32_t>(tap::kRecordSize)};
    DESFIRED_ASSIGN_OR_RETURN(OpenedFile file, OpenFileOf(ctx, request, guess, /*refresh=*/true));
    const FileUse& use = file.use;
    DESFIRED_ASSIGN_OR_RETURN(out.records, ReadTapRecords(ctx, file_no, use, request.max_records));
    Release(ctx, file_no, use);
    tap::TapResult result;
    out.results.reserve(out.records.size());
    for (size_t i = 0; i < out.records.size(); ++i) {
      pipeline->Process(i, out.records[i], std::nullopt, &result);
      out.results.push_back(result);
    }
    out.summary = pipeline->summary();
    return absl::OkStatus();
  });
}

}  // namespace desfired::cardops
