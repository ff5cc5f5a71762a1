#include "sim/image/json.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "core/util/json_escape.h"

namespace desfired::sim {
namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  explicit Parser(absl::string_view text) : s_(text) {}

  absl::StatusOr<Json> ParseDocument() {
    Json v;
    if (!ParseValue(v, 0)) return Fail();
    SkipSpace();
    if (pos_ != s_.size()) {
      error_ = "trailing characters";
      return Fail();
    }
    return v;
  }

 private:
  absl::Status Fail() const {
    return absl::InvalidArgumentError(absl::StrCat("JSON: ", error_, " at offset ", pos_));
  }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool Literal(absl::string_view word) {
    if (s_.substr(pos_, word.size()) != word) {
      error_ = "unexpected token";
      return false;
    }
    pos_ += word.size();
    return true;
  }

  bool ParseValue(Json& out, int depth) {
    if (depth > kMaxDepth) {
      error_ = "nesting too deep";
      return false;
    }
    SkipSpace();
    if (pos_ >= s_.size()) {
      error_ = "unexpected end";
      return false;
    }
    const char c = s_[pos_];
    if (c == 'n') return Literal("null") && (out = Json(), true);
    if (c == 't') return Literal("true") && (out = Json::Bool(true), true);
    if (c == 'f') return Literal("false") && (out = Json::Bool(false), true);
    if (c == '"') {
      std::string str;
      if (!ParseString(str)) return false;
      out = Json::String(std::move(str));
      return true;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseInt(out);
    if (c == '[') return ParseArray(out, depth);
    if (c == '{') return ParseObject(out, depth);
    error_ = "unexpected character";
    return false;
  }

  // Skips `c` when it is the next character.
  bool Consume(char c) {
    if (pos_ >= s_.size() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  // The end of an array or object after its last item: `close`, else an error.
  bool Close(char close) {
    if (Consume(close)) return true;
    error_ = absl::StrCat("expected ',' or '", absl::string_view(&close, 1), "'");
    return false;
  }

  bool ParseArray(Json& out, int depth) {
    ++pos_;  // [
    out = Json::Array();
    SkipSpace();
    if (Consume(']')) return true;
    do {
      Json item;
      if (!ParseValue(item, depth + 1)) return false;
      out.Push(std::move(item));
      SkipSpace();
    } while (Consume(','));
    return Close(']');
  }

  bool ParseObject(Json& out, int depth) {
    ++pos_;  // {
    out = Json::Object();
    SkipSpace();
    if (Consume('}')) return true;
    do {
      SkipSpace();
      std::string name;
      if (pos_ >= s_.size() || s_[pos_] != '"') {
        error_ = "expected member name";
        return false;
      }
      if (!ParseString(name)) return false;
      if (out.Find(name)) {
        error_ = "duplicate member \"" + name + "\"";
        return false;
      }
      SkipSpace();
      if (!Consume(':')) {
        error_ = "expected ':'";
        return false;
      }
      Json item;
      if (!ParseValue(item, depth + 1)) return false;
      out.Set(std::move(name), std::move(item));
      SkipSpace();
    } while (Consume(','));
    return Close('}');
  }

  bool ParseInt(Json& out) {
    bool negative = false;
    if (s_[pos_] == '-') {
      negative = true;
      ++pos_;
    }
    if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') {
      error_ = "expected digit";
      return false;
    }
    uint64_t v = 0;
    const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      v = v * 10 + static_cast<uint64_t>(s_[pos_] - '0');
      if (v > limit) {
        error_ = "integer out of range";
        return false;
      }
      ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E')) {
      error_ = "only integers are supported";
      return false;
    }
    out = Json::Int(negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v));
    return true;
  }

  bool ParseString(std::string& out) {
    ++pos_;  // opening quote
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) {
        error_ = "control character in string";
        return false;
      }
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) break;
      const char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          if (pos_ + 4 > s_.size()) break;
          unsigned v = 0;
          for (int i = 0; i < 4; ++i) {
            const char h = s_[pos_++];
            int d = (h >= '0' && h <= '9')   ? h - '0'
                    : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                    : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                             : -1;
            if (d < 0) {
              error_ = "bad \\u escape";
              return false;
            }
            v = v * 16 + static_cast<unsigned>(d);
          }
          if (v >= 0x80) {
            error_ = "\\u escapes above 0x7F are not supported";
            return false;
          }
          out.push_back(static_cast<char>(v));
          break;
        }
        default:
          error_ = "bad escape";
          return false;
      }
    }
    error_ = "unterminated string";
    return false;
  }

  absl::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

// How card images write strings: \n and \t short, the other control characters as \u00xx,
// every other byte (DEL, UTF-8) as it is — never \ufffd, which the reader above (\u escapes
// below 0x80 only) could not read back.
constexpr JsonEscapeOptions kImageEscapes{.short_escapes = "\n\t", .replace_invalid_utf8 = false};

// Arrays of scalars stay on one line; everything else is indented.
bool AllScalars(const std::vector<Json>& items) {
  for (const Json& j : items) {
    if (j.kind() == Json::Kind::kArray || j.kind() == Json::Kind::kObject) return false;
  }
  return true;
}

void Write(const Json& v, int indent, std::string& out) {
  const std::string pad(static_cast<size_t>(indent) * 2, ' ');
  const std::string inner(static_cast<size_t>(indent + 1) * 2, ' ');
  switch (v.kind()) {
    case Json::Kind::kNull:
      out += "null";
      return;
    case Json::Kind::kBool:
      out += v.bool_value() ? "true" : "false";
      return;
    case Json::Kind::kInt:
      out += absl::StrCat(v.int_value());
      return;
    case Json::Kind::kString:
      AppendJsonString(out, v.string_value(), kImageEscapes);
      return;
    case Json::Kind::kArray: {
      if (v.array().empty()) {
        out += "[]";
        return;
      }
      const bool flat = AllScalars(v.array()) && v.array().size() <= 8;
      out += flat ? "[" : "[\n";
      for (size_t i = 0; i < v.array().size(); ++i) {
        if (!flat) out += inner;
        Write(v.array()[i], indent + 1, out);
        if (i + 1 < v.array().size()) out += flat ? ", " : ",";
        if (!flat) out += "\n";
      }
      if (!flat) out += pad;
      out += "]";
      return;
    }
    case Json::Kind::kObject: {
      if (v.members().empty()) {
        out += "{}";
        return;
      }
      out += "{\n";
      for (size_t i = 0; i < v.members().size(); ++i) {
        out += inner;
        AppendJsonString(out, v.members()[i].first, kImageEscapes);
        out += ": ";
        Write(v.members()[i].second, indent + 1, out);
        if (i + 1 < v.members().size()) out += ",";
        out += "\n";
      }
      out += pad + "}";
      return;
    }
  }
}

}  // namespace

Json Json::Bool(bool b) {
  Json j;
  j.kind_ = Kind::kBool;
  j.bool_ = b;
  return j;
}
Json Json::Int(int64_t v) {
  Json j;
  j.kind_ = Kind::kInt;
  j.int_ = v;
  return j;
}
Json Json::String(std::string s) {
  Json j;
  j.kind_ = Kind::kString;
  j.string_ = std::move(s);
  return j;
}
Json Json::Array() {
  Json j;
  j.kind_ = Kind::kArray;
  return j;
}
Json Json::Object() {
  Json j;
  j.kind_ = Kind::kObject;
  return j;
}

const Json* Json::Find(absl::string_view name) const {
  for (const Member& m : members_) {
    if (m.first == name) return &m.second;
  }
  return nullptr;
}

Json& Json::Push(Json v) {
  array_.push_back(std::move(v));
  return array_.back();
}

Json& Json::Set(std::string name, Json v) {
  members_.emplace_back(std::move(name), std::move(v));
  return members_.back().second;
}

absl::StatusOr<Json> ParseJson(absl::string_view text) { return Parser(text).ParseDocument(); }

std::string WriteJson(const Json& value) {
  std::string out;
  Write(value, 0, out);
  out += "\n";
  return out;
}

}  // namespace desfired::sim
