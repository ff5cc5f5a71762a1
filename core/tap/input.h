// Tap input readers: turn a stream of hex lines, raw 32-byte records or CSV rows into
// records, one at a time, so memory stays bounded whatever the input size.
//
//   std::unique_ptr<TapInputReader> reader = NewTapInputReader(InputFormat::kHex, &stream);
//   TapInputRecord rec;
//   while (true) {
//     absl::StatusOr<bool> more = reader->Next(&rec);
//     if (!more.ok()) return more.status();  // the input cannot be read at all
//     if (!*more) break;
//     if (!rec.error.empty()) { /* unreadable record: REJECTED, rec.error names the place */ }
//   }
//
// A malformed line is not an error of the reader: it comes back as a record with `error`
// set ("line 7: non-hex character at offset 3"). Next() fails only when the stream cannot
// be read, or when a CSV header lacks the hex column.
//
// Thread-compatible. The stream must outlive the reader.
#ifndef DESFIRED_CORE_TAP_INPUT_H_
#define DESFIRED_CORE_TAP_INPUT_H_

#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/util/bytes.h"

namespace desfired::tap {

enum class InputFormat { kHex, kBinary, kCsv };

// "hex", "bin" / "binary", "csv".
std::optional<InputFormat> ParseInputFormat(absl::string_view name);
// From the file name: *.csv → CSV, *.bin / *.dat / *.raw → binary, else hex.
InputFormat GuessInputFormat(absl::string_view path);

struct TapInputRecord {
  Bytes bytes;                          // reused between calls
  std::optional<int64_t> backend_time;  // Unix seconds, CSV only
  std::string error;                    // non-empty: the record could not be read
  std::string location;                 // "line 7" or "offset 224"
};

class TapInputReader {
 public:
  virtual ~TapInputReader() = default;
  // Reads the next record into *rec. Returns false at the end of the input.
  virtual absl::StatusOr<bool> Next(TapInputRecord* rec) = 0;
  // Remarks about the input as a whole (e.g. a binary size that is not a multiple of 32).
  const std::vector<std::string>& notices() const { return notices_; }
  // Bytes consumed so far (for progress display).
  uint64_t bytes_read() const { return bytes_read_; }

 protected:
  std::vector<std::string> notices_;
  uint64_t bytes_read_ = 0;
};

// Longest accepted text line; a longer one becomes an unreadable record.
inline constexpr size_t kMaxLineLength = 64 * 1024;

std::unique_ptr<TapInputReader> NewTapInputReader(InputFormat format, std::istream* in);

// Decodes one hex record (a line's or a CSV field's text, optionally 0x-prefixed), appending
// its bytes to *out. False on bad text, with the reason in *error ("non-hex character 'x' at
// column 3", "odd number of hex digits (5)"); the bytes decoded before it stay appended.
// Allocates only for the error (and when *out grows).
bool AppendHexRecord(absl::string_view text, Bytes* out, std::string* error);

// The notice of a binary input whose last record, at `offset`, has only `got` bytes.
std::string BinaryTailNotice(uint64_t offset, size_t got);

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_INPUT_H_
