#include "core/ledger/startup_check.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/ledger/head_file.h"
#include "core/ledger/verify.h"
#include "core/util/status_macros.h"

namespace desfired::ledger {
namespace {

std::string RowsName(int64_t seq) { return seq == 1 ? "1 row" : absl::StrCat(seq, " rows"); }

// True when the file at `path` was last modified before `boot`.
bool WrittenBefore(const std::string& path, absl::Time boot) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  return absl::TimeFromTimespec(st.st_mtim) < boot;
}

// Why the store's head `have` is not the head file's `want` (nor one row past it, linked to
// it, nor further past it after a restart of the machine: then *stale); empty when it is.
std::string Compare(const Head& have, const Head& want, const std::string& head_file,
                    absl::Time boot, Snapshot& snapshot, bool* stale) {
  if (have == want) return "";
  const bool linked =
      have.seq > want.seq && (want.seq == 0 || snapshot.SeqOfHash(HashHex(want.hash)) == want.seq);
  // One row past: a deferred row, or an append whose head-file write a crash cut short. More:
  // the head-file writes that a crash of the machine lost (they are not synced).
  if (linked && (have.seq == want.seq + 1 || WrittenBefore(head_file, boot))) {
    *stale = true;
    return "";
  }
  const std::string says =
      absl::StrCat("its head file ", head_file, " says the ledger had ", RowsName(want.seq));
  if (have.seq == 0) {
    return absl::StrCat("the ledger is empty but ", says,
                        ": the ledger file was emptied, deleted or replaced by a new one");
  }
  if (have.seq < want.seq) {
    return absl::StrCat("the ledger ends at row ", have.seq, " but ", says, ": rows ", have.seq + 1,
                        " to ", want.seq,
                        " are missing (the file was cut short or an older copy put in its "
                        "place), or it was replaced by another ledger");
  }
  if (have.seq == want.seq) {
    return absl::StrCat("the ledger's last row (row ", have.seq,
                        ") is not the one desfired wrote: its hash is not the one in the head "
                        "file ",
                        head_file,
                        " (the last row and the head were rewritten, or the ledger was replaced "
                        "by another)");
  }
  return absl::StrCat("the ledger goes on to row ", have.seq, " but ", says,
                      ": rows were added by another program, or the ledger was replaced by "
                      "another");
}

}  // namespace

absl::Time SystemBootTime() {
  std::ifstream in("/proc/stat");
  std::string key;
  int64_t value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return absl::FromUnixSeconds(value);
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return absl::InfinitePast();
}

absl::StatusOr<StartupFinding> CheckAtStartup(Backend& backend, const std::string& head_file,
                                              const StartupCheckOptions& options) {
  StartupFinding f;
  if (!head_file.empty()) {
    absl::StatusOr<std::optional<Head>> recorded =
        HeadFile::Read(head_file, options.check_permissions);
    if (absl::IsDataLoss(recorded.status())) {
      f.problem = std::string(recorded.status().message());
    } else if (!recorded.ok()) {
      return recorded.status();
    } else {
      f.recorded = *recorded;
    }
  }

  // The store's head must be its last row.
  absl::StatusOr<Head> head = backend.ReadHead();
  if (absl::IsFailedPrecondition(head.status())) {
    if (f.problem.empty()) f.problem = std::string(head.status().message());
    return f;
  }
  if (!head.ok()) return head.status();
  DESFIRED_ASSIGN_OR_RETURN(std::optional<LastRow> last, backend.Last());
  const int64_t last_seq = last ? last->seq : 0;
  const std::string last_hash = last ? last->hash : HashHex(kGenesisHash);
  if (last_seq != head->seq || last_hash != HashHex(head->hash)) {
    if (f.problem.empty()) {
      f.problem =
          absl::StrCat("the chain head (row ", head->seq, ") does not match the last row (row ",
                       last_seq, "); the file was changed outside desfired");
    }
    return f;
  }
  f.store_head_ok = true;
  f.store_head = *head;
  if (!f.problem.empty()) return f;

  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Snapshot> snapshot, backend.OpenSnapshot());
  if (absl::Status pinned = snapshot->Pin(); !pinned.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot read ledger ", backend.name(), ": ", pinned.message()));
  }
  if (!head_file.empty()) {
    if (!f.recorded) {
      if (head->seq != 0) {
        f.problem =
            absl::StrCat("the ledger has ", RowsName(head->seq), " but no head file (", head_file,
                         "): the head file was deleted, the ledger was put here "
                         "from elsewhere, or a desfired without head files wrote it");
        return f;
      }
      f.head_file_stale = true;  // a new ledger
    } else {
      const absl::Time boot = options.boot_time.value_or(SystemBootTime());
      f.problem = Compare(*head, *f.recorded, head_file, boot, *snapshot, &f.head_file_stale);
      if (!f.problem.empty()) return f;
    }
  }

  // The newest rows (the whole chain when it is short) against the head found.
  const int64_t from =
      options.verify_rows > 0 ? std::max<int64_t>(1, head->seq - options.verify_rows + 1) : 1;
  VerifyResult v = Verify(*snapshot, *head, from);
  if (v.read_error)
    return absl::UnavailableError(absl::StrCat("ledger ", backend.name(), ": ", v.problem));
  if (!v.ok) {
    f.problem = absl::StrCat("the chain does not verify: ", v.problem);
  }
  return f;
}

}  // namespace desfired::ledger
