#include "core/tap/id_table.h"

#include <fstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/csv.h"
#include "core/util/numbers.h"

namespace desfired::tap {

absl::StatusOr<IdTable> IdTable::LoadCsvFile(const std::string& path, absl::string_view id_column,
                                             uint32_t max_id) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  return LoadCsv(in, path, id_column, max_id);
}

absl::StatusOr<IdTable> IdTable::LoadCsv(std::istream& in, absl::string_view source,
                                         absl::string_view id_column, uint32_t max_id) {
  IdTable table;
  std::string line;
  std::vector<std::string> fields;
  int line_no = 0;
  int id_index = -1;
  int name_index = -1;
  size_t columns = 0;
  while (std::getline(in, line)) {
    ++line_no;
    absl::string_view view = absl::StripAsciiWhitespace(line);
    if (view.empty() || view[0] == '#') continue;
    const std::string where = absl::StrCat(source, ":", line_no, ": ");
    if (absl::Status s = SplitCsvLine(view, &fields); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, s.message()));
    }
    if (id_index < 0) {
      for (size_t i = 0; i < fields.size(); ++i) {
        const std::string col = absl::AsciiStrToLower(fields[i]);
        if (col == id_column) id_index = static_cast<int>(i);
        if (col == "name") name_index = static_cast<int>(i);
      }
      if (id_index < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "no '", id_column,
                         "' column in the header (columns: ", absl::StrJoin(fields, ", "), ")"));
      }
      columns = fields.size();
      continue;
    }
    if (fields.size() < columns) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "expected ", columns, " columns, found ", fields.size()));
    }
    absl::StatusOr<uint32_t> id = ParseIdNumber(fields[id_index], max_id);
    if (!id.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, id_column, " ", id.status().message()));
    }
    std::string name = name_index >= 0 ? fields[name_index] : std::string();
    if (!table.names_.emplace(*id, std::move(name)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, id_column, " ", *id, " is listed twice"));
    }
  }
  if (id_index < 0) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": empty (no header row)"));
  }
  return table;
}

size_t IdTable::longest_name() const {
  size_t longest = 0;
  for (const auto& [id, name] : names_) longest = name.size() > longest ? name.size() : longest;
  return longest;
}

}  // namespace desfired::tap
