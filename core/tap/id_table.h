// IdTable: a terminal registry or a tariff table, loaded from CSV.
//
// The CSV has a header row. The id column (`terminal_id` or `fare_product`) holds decimal or
// 0x-hex numbers; a `name` column, if present, gives the display name. Other columns are
// ignored. Lines that are empty or start with '#' are skipped.
//
//   DESFIRED_ASSIGN_OR_RETURN(IdTable terminals,
//                             IdTable::LoadCsvFile("terminals.csv", "terminal_id", 0xFFFFFF));
//   const std::string* name = terminals.Find(0x001234);  // nullptr: unknown
//
// Thread-compatible: read-only after loading.
#ifndef DESFIRED_CORE_TAP_ID_TABLE_H_
#define DESFIRED_CORE_TAP_ID_TABLE_H_

#include <cstdint>
#include <istream>
#include <string>

#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace desfired::tap {

class IdTable {
 public:
  // INVALID_ARGUMENT naming the file and line: no header, no id column, a bad or duplicate
  // id, an id above `max_id`. NOT_FOUND when the file cannot be opened.
  static absl::StatusOr<IdTable> LoadCsvFile(const std::string& path, absl::string_view id_column,
                                             uint32_t max_id);
  static absl::StatusOr<IdTable> LoadCsv(std::istream& in, absl::string_view source,
                                         absl::string_view id_column, uint32_t max_id);

  // The name (possibly empty) of a known id; nullptr for an unknown one. The pointer stays
  // valid for the table's lifetime.
  const std::string* Find(uint32_t id) const {
    auto it = names_.find(id);
    return it == names_.end() ? nullptr : &it->second;
  }
  size_t size() const { return names_.size(); }
  // The length of the longest name (0 for an empty table).
  size_t longest_name() const;

 private:
  absl::node_hash_map<uint32_t, std::string> names_;  // node map: stable name pointers
};

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_ID_TABLE_H_
