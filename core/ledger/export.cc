#include "core/ledger/export.h"

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/bytes.h"
#include "core/util/json_escape.h"
#include "core/util/status_macros.h"

namespace desfired::ledger {
namespace {

// Appends `s` as a CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF.
void AppendCsvField(std::string* out, absl::string_view s) {
  if (s.find_first_of(",\"\r\n") == absl::string_view::npos) {
    out->append(s.data(), s.size());
    return;
  }
  out->push_back('"');
  for (char c : s) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

// One row as a line of `format`, LF included.
void AppendLine(const StoredRow& row, ExportFormat format, std::string* line) {
  const bool json = format == ExportFormat::kJsonLines;
  if (json) line->push_back('{');
  for (int col = 0; col < kColumnCount; ++col) {
    const auto c = static_cast<Column>(col);
    if (json) {
      absl::StrAppend(line, col == 0 ? "\"" : ",\"", ColumnName(c), "\":");
    } else if (col != 0) {
      line->push_back(',');
    }
    const Value& v = row[c];
    if (v.type == Value::Type::kNull) {
      if (json) line->append("null");
      continue;
    }
    switch (KindOf(c)) {
      case ColumnKind::kInteger:
      case ColumnKind::kOptionalInteger:
        absl::StrAppend(line, v.integer);
        break;
      case ColumnKind::kBytes: {
        const std::string hex = HexEncode(AsBytes(v.bytes));
        if (json) {
          absl::StrAppend(line, "\"", hex, "\"");
        } else {
          line->append(hex);
        }
        break;
      }
      case ColumnKind::kText:
        if (json) {
          AppendJsonString(*line, v.bytes);
        } else {
          AppendCsvField(line, v.bytes);
        }
        break;
    }
  }
  if (json) line->push_back('}');
  line->push_back('\n');
}

// Writes the rows of `rows` (of `snapshot`), after a CSV header line when CSV.
absl::Status WriteRows(Snapshot& snapshot, RowCursor& rows, std::ostream& out,
                       ExportFormat format) {
  std::string line;
  if (format == ExportFormat::kCsv) {
    for (int col = 0; col < kColumnCount; ++col) {
      absl::StrAppend(&line, col == 0 ? "" : ",", ColumnName(static_cast<Column>(col)));
    }
    out << line << '\n';
  }
  while (true) {
    absl::StatusOr<bool> more = rows.Next();
    if (!more.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot read ledger ", snapshot.name(), ": ", more.status().message()));
    }
    if (!*more) break;
    line.clear();
    AppendLine(rows.row(), format, &line);
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
    if (!out) return absl::UnavailableError("export: writing the output failed");
  }
  out.flush();
  if (!out) return absl::UnavailableError("export: writing the output failed");
  return absl::OkStatus();
}

}  // namespace

absl::Status Export(Snapshot& snapshot, std::ostream& out, ExportFormat format) {
  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<RowCursor> rows, snapshot.Rows());
  return WriteRows(snapshot, *rows, out, format);
}

absl::Status ExportNewest(Snapshot& snapshot, std::ostream& out, ExportFormat format,
                          int64_t limit) {
  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<RowCursor> rows, snapshot.NewestFirst(limit));
  return WriteRows(snapshot, *rows, out, format);
}

}  // namespace desfired::ledger
