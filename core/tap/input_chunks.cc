#include "core/tap/input_chunks.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/tap/format.h"

namespace desfired::tap {

ChunkReader::ChunkReader(InputFormat format, std::istream* in, size_t chunk_bytes)
    : format_(format),
      in_(in),
      chunk_bytes_(std::max(format == InputFormat::kBinary ? kRecordSize : 1, chunk_bytes)) {
  if (format_ == InputFormat::kBinary) chunk_bytes_ -= chunk_bytes_ % kRecordSize;
}

absl::Status ChunkReader::ReadMore(std::string* text) {
  const size_t old = text->size();
  text->resize(old + chunk_bytes_);
  in_->read(text->data() + old, static_cast<std::streamsize>(chunk_bytes_));
  const size_t got = static_cast<size_t>(in_->gcount());
  if (in_->bad()) return absl::DataLossError(absl::StrCat("read error at offset ", bytes_read_));
  text->resize(old + got);
  bytes_read_ += got;
  if (got < chunk_bytes_) eof_ = true;
  return absl::OkStatus();
}

absl::StatusOr<bool> ChunkReader::Next(InputChunk* chunk) {
  chunk->text.clear();
  return format_ == InputFormat::kBinary ? NextBinary(chunk) : NextHex(chunk);
}

absl::StatusOr<bool> ChunkReader::NextBinary(InputChunk* chunk) {
  if (eof_) return false;
  chunk->first_offset = bytes_read_;
  if (absl::Status s = ReadMore(&chunk->text); !s.ok()) return s;
  const size_t n = chunk->text.size();
  if (n == 0) return false;
  if (const size_t tail = n % kRecordSize; tail != 0) {  // only at the end of the input
    notices_.push_back(BinaryTailNotice(chunk->first_offset + n - tail, tail));
  }
  return true;
}

absl::StatusOr<bool> ChunkReader::NextHex(InputChunk* chunk) {
  std::string& text = chunk->text;
  text.swap(carry_);  // carry_ is left empty (text was cleared)
  chunk->first_line = lines_;
  while (true) {
    const size_t scanned = text.size();  // carry_ holds no newline
    if (!eof_) {
      if (absl::Status s = ReadMore(&text); !s.ok()) return s;
    }
    if (skipping_) {  // the rest of a too-long line: drop it with its newline
      const size_t nl = text.find('\n', scanned);
      if (nl == std::string::npos) {
        text.resize(scanned);
        if (eof_) break;
        continue;
      }
      text.erase(scanned, nl + 1 - scanned);
      skipping_ = false;
    }
    const size_t last = text.rfind('\n');
    if (last != std::string::npos) {
      carry_.assign(text, last + 1, std::string::npos);
      text.resize(last + 1);
      break;
    }
    if (eof_) break;                     // the last line, without a newline
    if (text.size() > kMaxLineLength) {  // cut: the decoder sees it too long
      text.resize(kMaxLineLength + 1);
      text.push_back('\n');
      skipping_ = true;
      break;
    }
  }
  if (text.empty()) return false;
  for (const char c : text) lines_ += c == '\n';
  return true;
}

void DecodeChunk(InputFormat format, const InputChunk& chunk, DecodedChunk* out) {
  out->records.clear();
  out->unreadable.clear();
  out->errors.clear();
  const std::string& text = chunk.text;
  if (format == InputFormat::kBinary) {
    out->bytes.clear();
    const uint8_t* p = reinterpret_cast<const uint8_t*>(text.data());
    for (size_t off = 0; off < text.size(); off += kRecordSize) {
      out->records.emplace_back(p + off, std::min(kRecordSize, text.size() - off));
    }
    return;
  }
  // Hex: every record is at most half its line, so `bytes` never grows below the spans.
  out->bytes.clear();
  out->bytes.reserve(text.size() / 2 + 1);
  std::string error;
  uint64_t line_no = chunk.first_line;
  size_t pos = 0;
  while (pos < text.size()) {
    const char* start = text.data() + pos;
    const void* nl = std::memchr(start, '\n', text.size() - pos);
    const size_t len = nl != nullptr ? static_cast<const char*>(nl) - start : text.size() - pos;
    pos += len + 1;
    ++line_no;
    const absl::string_view line(start, len);
    const bool too_long = line.size() > kMaxLineLength;
    const absl::string_view view = absl::StripAsciiWhitespace(line);
    if (!too_long && (view.empty() || view[0] == '#')) continue;
    const size_t begin = out->bytes.size();
    if (too_long) {
      error = absl::StrCat("line longer than ", kMaxLineLength, " characters");
    } else if (AppendHexRecord(view, &out->bytes, &error)) {
      out->records.emplace_back(out->bytes.data() + begin, out->bytes.size() - begin);
      continue;
    }
    out->bytes.resize(begin);
    out->unreadable.push_back(out->records.size());
    out->errors.push_back(absl::StrCat("line ", line_no, ": ", error));
    out->records.emplace_back();
  }
}

}  // namespace desfired::tap
