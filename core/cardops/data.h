// Data files (standard and backup): ReadData and WriteData, with the communication mode
// override of file_access.h.
//
//   DESFIRED_ASSIGN_OR_RETURN(Bytes data, ReadData(ctx, {.target = t, .aid = 0xF51001,
//                                                         .auth = {.name = "read", .key_no = 1},
//                                                         .file_no = 5}));
//
// Both run the prologue on request.aid (session.h) and open the file (file_access.h), and fail
// with their errors and those of DesfireCard::ReadData / WriteData (core/desfire/card.h). A
// failure resets ctx.session.
//
// Thread-compatible: on the thread that owns the CardContext.
#ifndef DESFIRED_CORE_CARDOPS_DATA_H_
#define DESFIRED_CORE_CARDOPS_DATA_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "core/cardops/context.h"
#include "core/cardops/iso_ref.h"
#include "core/cardops/target.h"
#include "core/desfire/card_types.h"
#include "core/util/bytes.h"

namespace desfired::cardops {

// Most bytes one WriteData or WriteRecord request may carry (the card takes them in 54-byte
// frames; 8 KiB is the whole user memory of an 8K card). The server's request validation
// rejects more.
inline constexpr size_t kMaxWriteBytes = 8 * 1024;

struct ReadDataRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};
  uint8_t file_no = 0;
  uint32_t offset = 0;
  uint32_t length = 0;                              // 0: to the end of the file
  std::optional<desfire::CommMode> comm_mode = {};  // the override (file_access.h)
  IsoRef iso = {};  // the ISO/IEC 7816-4 commands instead (iso_access.h)
};

absl::StatusOr<Bytes> ReadData(CardContext& ctx, const ReadDataRequest& request);

struct WriteDataRequest {
  Target target = {};
  uint32_t aid = 0;
  KeyRef auth = {};
  uint8_t file_no = 0;
  uint32_t offset = 0;
  Bytes data = {};
  std::optional<desfire::CommMode> comm_mode = {};  // the override (file_access.h)
  bool defer_commit = false;  // a backup file's change waits for CommitTransaction
  IsoRef iso = {};            // the ISO/IEC 7816-4 commands instead (iso_access.h)
};

struct WriteResult {
  // False only when a transactional write (a backup file, or a file whose settings were
  // guessed) was left open with defer_commit. A standard file's write is always committed.
  bool committed = false;
};

absl::StatusOr<WriteResult> WriteData(CardContext& ctx, const WriteDataRequest& request);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_DATA_H_
