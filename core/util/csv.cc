#include "core/util/csv.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace desfired {

absl::Status SplitCsvLine(absl::string_view line, std::vector<std::string>* fields) {
  fields->clear();
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t i = 0;
  while (true) {
    std::string field;
    while (i < line.size() && line[i] == ' ') ++i;
    if (i < line.size() && line[i] == '"') {
      const size_t open = i++;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        field.push_back(line[i++]);
      }
      if (!closed) {
        return absl::InvalidArgumentError(
            absl::StrCat("unterminated quote starting at column ", open + 1));
      }
      while (i < line.size() && line[i] == ' ') ++i;
      if (i < line.size() && line[i] != ',') {
        return absl::InvalidArgumentError(
            absl::StrCat("unexpected text after a quoted field at column ", i + 1));
      }
    } else {
      const size_t start = i;
      while (i < line.size() && line[i] != ',') ++i;
      field = std::string(absl::StripAsciiWhitespace(line.substr(start, i - start)));
    }
    fields->push_back(std::move(field));
    if (i >= line.size()) break;
    ++i;  // the comma
  }
  return absl::OkStatus();
}

}  // namespace desfired
