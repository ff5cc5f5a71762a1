#include "core/tap/input.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "core/tap/format.h"
#include "core/util/csv.h"

namespace desfired::tap {
namespace {

// Reads lines of at most kMaxLineLength characters; longer lines are cut and flagged.
class LineSource {
 public:
  explicit LineSource(std::istream* in) : in_(in) {}

  // false at end of input; *too_long when the line was longer than the limit.
  bool Next(std::string* line, bool* too_long, uint64_t* consumed) {
    line->clear();
    *too_long = false;
    if (!in_->good()) return false;
    bool any = false;
    int c;
    std::streambuf* sb = in_->rdbuf();
    while ((c = sb->sbumpc()) != std::char_traits<char>::eof()) {
      any = true;
      ++*consumed;
      if (c == '\n') break;
      if (line->size() < kMaxLineLength) {
        line->push_back(static_cast<char>(c));
      } else {
        *too_long = true;
      }
    }
    if (c == std::char_traits<char>::eof()) in_->setstate(std::ios::eofbit);
    if (!any) return false;
    ++line_no_;
    if (!line->empty() && line->back() == '\r') line->pop_back();
    return true;
  }
  uint64_t line_no() const { return line_no_; }

 private:
  std::istream* in_;
  uint64_t line_no_ = 0;
};

void SetError(TapInputRecord* rec, absl::string_view message) {
  rec->error = absl::StrCat(rec->location, ": ", message);
}

class HexReader final : public TapInputReader {
 public:
  explicit HexReader(std::istream* in) : lines_(in) {}

  absl::StatusOr<bool> Next(TapInputRecord* rec) override {
    bool too_long = false;
    while (lines_.Next(&line_, &too_long, &bytes_read_)) {
      absl::string_view view = absl::StripAsciiWhitespace(line_);
      if (!too_long && (view.empty() || view[0] == '#')) continue;
      rec->bytes.clear();
      rec->backend_time.reset();
      rec->error.clear();
      rec->location = absl::StrCat("line ", lines_.line_no());
      if (too_long) {
        SetError(rec, absl::StrCat("line longer than ", kMaxLineLength, " characters"));
        return true;
      }
      Decode(view, rec);
      return true;
    }
    return false;
  }

  // Decodes into rec->bytes, reusing its capacity; sets rec->error on failure.
  static void Decode(absl::string_view text, TapInputRecord* rec) {
    std::string error;
    if (!AppendHexRecord(text, &rec->bytes, &error)) SetError(rec, error);
  }

 private:
  LineSource lines_;
  std::string line_;
};

class BinaryReader final : public TapInputReader {
 public:
  explicit BinaryReader(std::istream* in) : in_(in) {}

  absl::StatusOr<bool> Next(TapInputRecord* rec) override {
    rec->bytes.resize(kRecordSize);
    in_->read(reinterpret_cast<char*>(rec->bytes.data()), kRecordSize);
    const size_t got = static_cast<size_t>(in_->gcount());
    if (in_->bad()) return absl::DataLossError(absl::StrCat("read error at offset ", offset_));
    rec->bytes.resize(got);
    rec->backend_time.reset();
    rec->error.clear();
    rec->location = absl::StrCat("offset ", offset_);
    if (got == 0) return false;
    if (got < kRecordSize) {
      notices_.push_back(BinaryTailNotice(offset_, got));
    }
    offset_ += got;
    bytes_read_ = offset_;
    return true;
  }

 private:
  std::istream* in_;
  uint64_t offset_ = 0;
};

class CsvReader final : public TapInputReader {
 public:
  explicit CsvReader(std::istream* in) : lines_(in) {}

  absl::StatusOr<bool> Next(TapInputRecord* rec) override {
    bool too_long = false;
    while (lines_.Next(&line_, &too_long, &bytes_read_)) {
      absl::string_view view = absl::StripAsciiWhitespace(line_);
      if (!too_long && (view.empty() || view[0] == '#')) continue;
      const std::string where = absl::StrCat("line ", lines_.line_no());
      if (hex_col_ < 0) {
        if (too_long) return absl::InvalidArgumentError(absl::StrCat(where, ": header too long"));
        absl::Status s = ReadHeader(view);
        if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
        continue;
      }
      rec->bytes.clear();
      rec->backend_time.reset();
      rec->error.clear();
      rec->location = where;
      if (too_long) {
        SetError(rec, absl::StrCat("line longer than ", kMaxLineLength, " characters"));
        return true;
      }
      if (absl::Status s = SplitCsvLine(view, &fields_); !s.ok()) {
        SetError(rec, s.message());
        return true;
      }
      if (fields_.size() <= static_cast<size_t>(hex_col_)) {
        SetError(rec, absl::StrCat("missing column '", header_[hex_col_], "' (", fields_.size(),
                                   " of ", header_.size(), " columns)"));
        return true;
      }
      HexReader::Decode(fields_[hex_col_], rec);
      if (!rec->error.empty()) {
        rec->error = absl::StrCat(where, ": column '", header_[hex_col_],
                                  "': ", rec->error.substr(where.size() + 2));
        return true;
      }
      if (time_col_ >= 0 && static_cast<size_t>(time_col_) < fields_.size() &&
          !fields_[time_col_].empty()) {
        std::optional<int64_t> t = ParseTime(fields_[time_col_]);
        if (!t) {
          SetError(rec, absl::StrCat("column '", header_[time_col_], "': '", fields_[time_col_],
                                     "' is neither Unix seconds nor RFC 3339"));
          return true;
        }
        rec->backend_time = t;
      }
      return true;
    }
    if (hex_col_ < 0 && !saw_header_) {
      return absl::InvalidArgumentError("CSV input is empty (no header row)");
    }
    return false;
  }

 private:
  absl::Status ReadHeader(absl::string_view line) {
    if (absl::Status s = SplitCsvLine(line, &header_); !s.ok()) return s;
    saw_header_ = true;
    for (size_t i = 0; i < header_.size(); ++i) {
      const std::string col = absl::AsciiStrToLower(header_[i]);
      if (col == "hex" || col == "raw_hex" || col == "raw" || col == "record") {
        hex_col_ = static_cast<int>(i);
      }
      if (col == "backend_time" || col == "backend_timestamp" || col == "server_time") {
        time_col_ = static_cast<int>(i);
      }
    }
    if (hex_col_ < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "no hex column in the CSV header (expected one named hex, raw_hex, raw or record; "
          "found: ",
          absl::StrJoin(header_, ", "), ")"));
    }
    return absl::OkStatus();
  }

  static std::optional<int64_t> ParseTime(absl::string_view text) {
    int64_t seconds = 0;
    if (absl::SimpleAtoi(text, &seconds)) return seconds;
    absl::Time t;
    std::string err;
    if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return absl::ToUnixSeconds(t);
    return std::nullopt;
  }

  LineSource lines_;
  std::string line_;
  std::vector<std::string> header_;
  std::vector<std::string> fields_;
  int hex_col_ = -1;
  int time_col_ = -1;
  bool saw_header_ = false;
};

}  // namespace

bool AppendHexRecord(absl::string_view text, Bytes* out, std::string* error) {
  if (absl::StartsWithIgnoreCase(text, "0x")) text.remove_prefix(2);
  const size_t start = out->size();
  size_t offset = 0;
  switch (HexDecodeAppend(text, *out, &offset)) {
    case HexStop::kDone:
      return true;
    case HexStop::kNonHex:
      *error = absl::StrCat("non-hex character '", absl::string_view(&text[offset], 1),
                            "' at column ", offset + 1);
      return false;
    case HexStop::kOddDigits:
      *error = absl::StrCat("odd number of hex digits (", (out->size() - start) * 2 + 1, ")");
      return false;
  }
  return false;
}

std::string BinaryTailNotice(uint64_t offset, size_t got) {
  return absl::StrCat("input size ", offset + got,
                      " is not a multiple of 32 bytes: the last record, at offset ", offset,
                      ", has ", got, " bytes");
}

std::optional<InputFormat> ParseInputFormat(absl::string_view name) {
  if (name == "hex") return InputFormat::kHex;
  if (name == "bin" || name == "binary") return InputFormat::kBinary;
  if (name == "csv") return InputFormat::kCsv;
  return std::nullopt;
}

InputFormat GuessInputFormat(absl::string_view path) {
  if (absl::EndsWithIgnoreCase(path, ".csv")) return InputFormat::kCsv;
  if (absl::EndsWithIgnoreCase(path, ".bin") || absl::EndsWithIgnoreCase(path, ".dat") ||
      absl::EndsWithIgnoreCase(path, ".raw")) {
    return InputFormat::kBinary;
  }
  return InputFormat::kHex;
}

std::unique_ptr<TapInputReader> NewTapInputReader(InputFormat format, std::istream* in) {
  switch (format) {
    case InputFormat::kHex:
      return std::make_unique<HexReader>(in);
    case InputFormat::kBinary:
      return std::make_unique<BinaryReader>(in);
    case InputFormat::kCsv:
      return std::make_unique<CsvReader>(in);
  }
  return nullptr;
}

}  // namespace desfired::tap
