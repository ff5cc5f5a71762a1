// ReadTapLog: the tap records of a record file on the card (a transit card's tap log), parsed
// and reconciled as TapService.ParseTaps does (core/tap/pipeline.h).
//
//   DESFIRED_ASSIGN_OR_RETURN(TapLog log, ReadTapLog(ctx, {.target = t, .aid = 0xF51001,
//                                                          .auth = read_key, .file_no = 3,
//                                                          .max_records = 10}));
//   for (const tap::TapResult& r : log.results) { ... }   // oldest first
//
// The newest max_records records (0: all), oldest first, each through one tap::TapPipeline
// built from ctx.taps (or default options with ctx.keys). The file is opened with the override
// of file_access.h; guessed settings are a cyclic file of 32-byte records, and the whole file
// is then read (an empty file fails with OUT_OF_RANGE / BOUNDARY_ERROR, as the card answers)
// before the newest are kept.
//
// Errors: those of the prologue (session.h) and of file_access.h and DesfireCard::ReadRecords;
// INVALID_ARGUMENT when the tap configuration cannot be prepared (TapPipeline::Create);
// FAILED_PRECONDITION / WRONG_FILE_TYPE on a file that is not a record file. A failure resets
// ctx.session.
//
// Thread-compatible: on the thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_TAP_LOG_H_
#define DESFIRED_CORE_CARDOPS_TAP_LOG_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/cardops/context.h"
#include "core/cardops/target.h"
#include "core/desfire/card_types.h"
#include "core/tap/result.h"
#include "core/tap/summary.h"
#include "core/util/bytes.h"

namespace desfired::cardops {

struct ReadTapLogRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};
  uint8_t file_no = 0;
  std::optional<desfire::CommMode> comm_mode = {};  // the override (file_access.h)
  uint32_t max_records = 0;                         // the newest this many; 0: all
};

// The results view memory they do not own: results[i].raw views records[i] (so a TapLog is
// moved, never copied), and the names (key, terminal, fare product) point into ctx.keys and the
// tables of ctx.taps, which must outlive the results.
struct TapLog {
  std::vector<Bytes> records = {};           // as read from the card, oldest first
  std::vector<tap::TapResult> results = {};  // one per record; index 0, 1, ...
  tap::TapSummary summary = {};

  TapLog() = default;
  TapLog(TapLog&&) = default;
  TapLog& operator=(TapLog&&) = default;
  TapLog(const TapLog&) = delete;
  TapLog& operator=(const TapLog&) = delete;
};

absl::StatusOr<TapLog> ReadTapLog(CardContext& ctx, const ReadTapLogRequest& request);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_TAP_LOG_H_
