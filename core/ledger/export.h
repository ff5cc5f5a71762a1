// Exporting a ledger (docs/ledger.md, "Export formats"): every row, oldest first, every column
// under its name, so that each row's hash can be recomputed from the export.
//
//   JSON lines: one object per row; integers as numbers, absent optional values null, payload
//     as lower-case hex, text as a JSON string (bytes that are not UTF-8 become U+FFFD).
//   CSV: a header line with the 22 column names, then one record per row; RFC 4180 quoting
//     (a field with a comma, a double quote, CR or LF is quoted, `"` doubled); absent values
//     empty; payload hex; LF line ends.
//
//   std::unique_ptr<Snapshot> view = *SqliteBackend::OpenFile(path);
//   absl::Status s = Export(*view, std::cout, ExportFormat::kCsv);
//
// Thread-compatible: Export reads the snapshot it is given, from one thread.
#ifndef DESFIRED_CORE_LEDGER_EXPORT_H_
#define DESFIRED_CORE_LEDGER_EXPORT_H_

#include <cstdint>
#include <ostream>

#include "absl/status/status.h"
#include "core/ledger/backend.h"

namespace desfired::ledger {

enum class ExportFormat { kJsonLines, kCsv };

// Writes every row of `snapshot` to `out`. UNAVAILABLE when the rows cannot be read ("cannot
// read ledger <name>: ...") or `out` fails; INTERNAL when they cannot be queried at all.
absl::Status Export(Snapshot& snapshot, std::ostream& out, ExportFormat format);

// The newest `limit` rows of `snapshot` in the same format, NEWEST FIRST (Snapshot::
// NewestFirst: the older rows are not read). INVALID_ARGUMENT when limit < 1.
absl::Status ExportNewest(Snapshot& snapshot, std::ostream& out, ExportFormat format,
                          int64_t limit);

}  // namespace desfired::ledger

#endif  // DESFIRED_CORE_LEDGER_EXPORT_H_
