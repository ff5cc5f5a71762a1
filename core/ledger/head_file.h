// The head file: the ledger's chain head kept outside its storage (docs/ledger.md, "The head
// file"), so that a ledger that was emptied, deleted, cut short, replaced or had its newest
// rows rewritten does not pass for a good one at start-up. `ledger.head` beside
// `ledger.sqlite` by default (HeadFilePathFor).
//
// The file is 256 bytes: two slots of 128 bytes, each one line of text
//
//   desfired-ledger-head 1 <seq> <hash: 64 hex> <check: 16 hex>␠␠...␠\n
//
// padded with spaces to 127 bytes and a newline. `check` is the first 8 bytes (16 hex digits)
// of SHA-256 of the text before it ("desfired-ledger-head 1 <seq> <hash>"). Head {seq, hash}
// goes into slot seq % 2, so that the slot of the head before it stays whole while one is
// written: a write cut short by a crash leaves the other slot, one row behind. Read takes the
// valid slot with the highest seq.
//
//   DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<HeadFile> f, HeadFile::Create(path, head));
//   DESFIRED_RETURN_IF_ERROR(f->Write(next_head));          // no sync: see below
//   DESFIRED_RETURN_IF_ERROR(f->Sync());                    // one fdatasync
//   DESFIRED_ASSIGN_OR_RETURN(std::optional<Head> stored, HeadFile::Read(path, true));
//
// Write does not sync: every reader (the start-up check of a restarted desfired included) sees
// the new head at once, and only a crash of the machine itself (the OS, the power) can lose it;
// the file is then older than the machine's boot, and the start-up check allows it to lag
// (startup_check.h). Sync makes it durable (at open and close of a ledger).
//
// Thread-compatible: one thread at a time writes a HeadFile (the Ledger holds its mutex).
#ifndef DESFIRED_CORE_LEDGER_HEAD_FILE_H_
#define DESFIRED_CORE_LEDGER_HEAD_FILE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/ledger/chain.h"

namespace desfired::ledger {

inline constexpr size_t kHeadSlotSize = 128;
inline constexpr size_t kHeadFileSize = 2 * kHeadSlotSize;

// The head file of the SQLite ledger at `ledger_path`: its name with ".sqlite" replaced by
// ".head" (ledger.sqlite -> ledger.head), or ".head" appended when it has no ".sqlite".
std::string HeadFilePathFor(absl::string_view ledger_path);

// One slot's 128 bytes for `head` (exposed for tests).
std::string EncodeHeadSlot(const Head& head);
// The head a slot holds; nullopt when the slot is not one EncodeHeadSlot wrote (torn, edited).
std::optional<Head> DecodeHeadSlot(absl::string_view slot);

class HeadFile {
 public:
  // The head the file at `path` holds: nullopt when there is no such file. DATA_LOSS when it
  // is not kHeadFileSize bytes or neither slot is valid ("damaged"); FAILED_PRECONDITION when
  // it is not a regular file (a symbolic link included) or (with `check_permissions`) group or
  // others may access it. Errors name the path.
  static absl::StatusOr<std::optional<Head>> Read(const std::string& path, bool check_permissions);

  // Writes a new head file at `path` holding `head` in both slots, atomically: a temporary file
  // (mode 0600) written and fsynced, renamed over `path`, then the directory fsynced. Returns
  // it open for Write. UNAVAILABLE when the file or the directory cannot be written.
  static absl::StatusOr<std::unique_ptr<HeadFile>> Create(const std::string& path,
                                                          const Head& head);
  // Opens the existing head file for Write (after Read said what it holds).
  static absl::StatusOr<std::unique_ptr<HeadFile>> OpenForWrite(const std::string& path);

  ~HeadFile();
  HeadFile(const HeadFile&) = delete;
  HeadFile& operator=(const HeadFile&) = delete;

  // Writes `head` into slot head.seq % 2, without a sync (the file's size and name do not
  // change). UNAVAILABLE when it fails: the file then holds the head before, or `head`, whole
  // in one of its slots.
  absl::Status Write(const Head& head);
  // fdatasync: what Write wrote survives a crash of the machine. UNAVAILABLE when it fails.
  absl::Status Sync();

  const std::string& path() const { return path_; }

 private:
  HeadFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  const std::string path_;
  const int fd_;
};

}  // namespace desfired::ledger

#endif  // DESFIRED_CORE_LEDGER_HEAD_FILE_H_
