// Record files (linear and cyclic): ReadRecords (newest first, paged), WriteRecord and
// ClearRecordFile. The tap log of a transit card is read with ReadTapLog (tap_log.h).
//
//   DESFIRED_ASSIGN_OR_RETURN(RecordPage page, ReadRecords(ctx, {.target = t, .aid = 0xF51001,
//                                                                .auth = read_key, .file_no = 3,
//                                                                .page_size = 10}));
//   // page.records[0] is the newest record (offset 0)
//
// All three run the prologue on request.aid (session.h) and fail with its errors and those of
// the DesfireCard calls (core/desfire/card.h); ReadRecords and WriteRecord open the file with
// the override of file_access.h, ReadRecords never guessing (it needs the card's record count).
// Besides: FAILED_PRECONDITION / WRONG_FILE_TYPE for ReadRecords on a file that is not a record
// file; the errors of PageOf (paging.h). A failure resets ctx.session.
//
// Thread-compatible: on the thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_RECORDS_H_
#define DESFIRED_CORE_CARDOPS_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/cardops/context.h"
#include "core/cardops/data.h"
#include "core/cardops/iso_ref.h"
#include "core/cardops/target.h"
#include "core/desfire/card_types.h"
#include "core/util/bytes.h"

namespace desfired::cardops {

struct ReadRecordsRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};
  uint8_t file_no = 0;
  std::optional<desfire::CommMode> comm_mode = {};  // the override (file_access.h)
  int32_t page_size = 0;                            // paging.h
  std::string page_token = {};                      // paging.h
  IsoRef iso = {};  // the ISO/IEC 7816-4 commands instead (iso_access.h)
};

struct Record {
  uint32_t offset = 0;  // counted from the newest record (0)
  Bytes data = {};
};

struct RecordPage {
  uint32_t total_records = 0;        // the file's current record count
  std::vector<Record> records = {};  // newest first
  std::string next_page_token = {};  // empty on the last page
};

// Newest first, `offset` counted from the newest record, the count from fresh file settings.
absl::StatusOr<RecordPage> ReadRecords(CardContext& ctx, const ReadRecordsRequest& request);

struct WriteRecordRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};
  uint8_t file_no = 0;
  uint32_t offset = 0;  // within the record
  Bytes data = {};
  std::optional<desfire::CommMode> comm_mode = {};  // the override (file_access.h)
  bool defer_commit = false;                        // leave the change for CommitTransaction
  IsoRef iso = {};  // the ISO/IEC 7816-4 commands instead (iso_access.h)
};

// committed = !defer_commit.
absl::StatusOr<WriteResult> WriteRecord(CardContext& ctx, const WriteRecordRequest& request);

struct ClearRecordFileRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};
  uint8_t file_no = 0;
  bool defer_commit = false;  // leave the change for CommitTransaction
};

// committed = !defer_commit.
absl::StatusOr<WriteResult> ClearRecordFile(CardContext& ctx,
                                            const ClearRecordFileRequest& request);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_RECORDS_H_
