// Tap input in large chunks, for parsing on several threads (core/tap/parallel_parse.h).
//
// ChunkReader reads hex or binary input in blocks of about `chunk_bytes` and cuts them at line
// (hex) or record (binary) boundaries; DecodeChunk turns one chunk into records. Together they
// give exactly the records, errors and notices of NewTapInputReader (core/tap/input.h) for the
// same input: lines of at most kMaxLineLength characters (a longer one is an unreadable record),
// blank and '#' lines skipped, "line N: ..." errors, the binary tail notice.
//
//   ChunkReader reader(InputFormat::kHex, &stream, 256 * 1024);
//   InputChunk chunk;
//   DecodedChunk decoded;
//   while (*reader.Next(&chunk)) {          // false at the end; an error when unreadable
//     DecodeChunk(InputFormat::kHex, chunk, &decoded);
//     ... decoded.records ...
//   }
//
// Memory per chunk is bounded (about 2 * chunk_bytes for the text plus the decoded bytes);
// decoding allocates nothing per line except for an unreadable record's message.
//
// Thread-compatible: one ChunkReader on one thread; DecodeChunk of different chunks may run on
// different threads at once.
#ifndef DESFIRED_CORE_TAP_INPUT_CHUNKS_H_
#define DESFIRED_CORE_TAP_INPUT_CHUNKS_H_

#include <cstdint>
#include <deque>
#include <istream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tap/input.h"
#include "core/util/bytes.h"

namespace desfired::tap {

struct InputChunk {
  std::string text;           // hex: whole lines; binary: whole records (the last may be short)
  uint64_t first_line = 0;    // hex: how many lines come before this chunk
  uint64_t first_offset = 0;  // binary: the input offset of text[0]
};

struct DecodedChunk {
  Bytes bytes;                     // hex: the decoded records, one after the other
  std::vector<ByteSpan> records;   // into `bytes` (hex) or the chunk's text (binary)
  std::vector<size_t> unreadable;  // positions in `records` of unreadable records (empty spans)
  std::deque<std::string> errors;  // their messages, "line 7: ...", in the same order
};

class ChunkReader {
 public:
  // `format` is kHex or kBinary (CSV is read record by record); `in` must outlive the reader.
  // Binary chunks are rounded down to whole records.
  ChunkReader(InputFormat format, std::istream* in, size_t chunk_bytes);

  // The next chunk into *chunk (its text's capacity is reused); false at the end of the input,
  // DATA_LOSS when the stream cannot be read.
  absl::StatusOr<bool> Next(InputChunk* chunk);

  // As TapInputReader::notices() and bytes_read().
  const std::vector<std::string>& notices() const { return notices_; }
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  absl::StatusOr<bool> NextBinary(InputChunk* chunk);
  absl::StatusOr<bool> NextHex(InputChunk* chunk);
  // Appends up to chunk_bytes_ bytes of input to *text; sets eof_ at the end.
  absl::Status ReadMore(std::string* text);

  InputFormat format_;
  std::istream* in_;
  size_t chunk_bytes_;
  std::string carry_;      // hex: the start of a line that continues in the next block
  bool skipping_ = false;  // hex: inside a too-long line, already cut and emitted
  bool eof_ = false;
  uint64_t lines_ = 0;
  std::vector<std::string> notices_;
  uint64_t bytes_read_ = 0;
};

// Decodes `chunk` (from a ChunkReader of the same format) into *out, reusing its buffers.
void DecodeChunk(InputFormat format, const InputChunk& chunk, DecodedChunk* out);

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_INPUT_CHUNKS_H_
