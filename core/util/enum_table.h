// Two-way tables between an enum and another spelling of it (a name, a proto enum): one row per
// value, read in both directions, so that a mapping is written once and both ways agree.
//
//   constexpr EnumRow<Event, absl::string_view> kEventNames[] = {{Event::kPending, "PENDING"},
//                                                                {Event::kDone, "DONE"}};
//   absl::string_view EventName(Event e) { return ValueOf(kEventNames, e).value_or("UNKNOWN"); }
//   std::optional<Event> ParseEvent(absl::string_view n) { return KeyOf(kEventNames, n); }
//
// The first row that matches wins; std::nullopt when none does.
//
// Thread-safe: constant data and pure functions.
#ifndef DESFIRED_CORE_UTIL_ENUM_TABLE_H_
#define DESFIRED_CORE_UTIL_ENUM_TABLE_H_

#include <cstddef>
#include <optional>
#include <type_traits>

namespace desfired {

template <typename Key, typename Value>
struct EnumRow {
  Key key;
  Value value;
};

// The first row of `table` that `match` accepts; nullptr when none does.
template <typename Row, size_t N, typename Match>
constexpr const Row* FirstRow(const Row (&table)[N], Match match) {
  for (const Row& row : table) {
    if (match(row)) return &row;
  }
  return nullptr;
}

// The value of the first row whose key is `key`.
template <typename Key, typename Value, size_t N>
constexpr std::optional<Value> ValueOf(const EnumRow<Key, Value> (&table)[N],
                                       const std::type_identity_t<Key>& key) {
  const auto* row = FirstRow(table, [&](const EnumRow<Key, Value>& r) { return r.key == key; });
  return row == nullptr ? std::nullopt : std::optional<Value>(row->value);
}

// The key of the first row whose value is `value`.
template <typename Key, typename Value, size_t N>
constexpr std::optional<Key> KeyOf(const EnumRow<Key, Value> (&table)[N],
                                   const std::type_identity_t<Value>& value) {
  const auto* row = FirstRow(table, [&](const EnumRow<Key, Value>& r) { return r.value == value; });
  return row == nullptr ? std::nullopt : std::optional<Key>(row->key);
}

}  // namespace desfired

#endif  // DESFIRED_CORE_UTIL_ENUM_TABLE_H_
