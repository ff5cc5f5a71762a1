// A small JSON value, parser and writer for card images (RFC 8259 subset).
//
// Supported: null, true/false, integers (int64; no fractions or exponents — card images
// need none), strings with the standard escapes (\uXXXX only for code points below 0x80,
// which is all an image uses), arrays and objects (member order kept; duplicate names are
// an error). Nesting is limited to 64 levels.
//
//   DESFIRED_ASSIGN_OR_RETURN(Json doc, ParseJson(text));
//   const Json* uid = doc.Find("uid");
//   std::string out = WriteJson(doc);  // two-space indentation, trailing newline
//
// Thread-compatible.
#ifndef DESFIRED_SIM_IMAGE_JSON_H_
#define DESFIRED_SIM_IMAGE_JSON_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace desfired::sim {

class Json {
 public:
  enum class Kind { kNull, kBool, kInt, kString, kArray, kObject };
  using Member = std::pair<std::string, Json>;

  Json() = default;
  static Json Bool(bool b);
  static Json Int(int64_t v);
  static Json String(std::string s);
  static Json Array();
  static Json Object();

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool bool_value() const { return bool_; }
  int64_t int_value() const { return int_; }
  const std::string& string_value() const { return string_; }
  const std::vector<Json>& array() const { return array_; }
  const std::vector<Member>& members() const { return members_; }

  // Object member by name, or nullptr (also for non-objects).
  const Json* Find(absl::string_view name) const;
  // Appends to an array / object.
  Json& Push(Json v);
  Json& Set(std::string name, Json v);

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  std::string string_;
  std::vector<Json> array_;
  std::vector<Member> members_;
};

// INVALID_ARGUMENT with the byte offset of the first error.
absl::StatusOr<Json> ParseJson(absl::string_view text);
std::string WriteJson(const Json& value);

}  // namespace desfired::sim

#endif  // DESFIRED_SIM_IMAGE_JSON_H_
