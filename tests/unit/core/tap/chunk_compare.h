// Differential check of the chunked tap input (core/tap/input_chunks.h) against the
// record-by-record readers (core/tap/input.h), for the unit tests and the fuzz target.
#ifndef DESFIRED_TESTS_UNIT_CORE_TAP_CHUNK_COMPARE_H_
#define DESFIRED_TESTS_UNIT_CORE_TAP_CHUNK_COMPARE_H_

#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/tap/input.h"
#include "core/tap/input_chunks.h"

namespace desfired::tap::testing {

// Reads `input` (kHex or kBinary) both ways, the chunked one in blocks of `chunk_bytes`.
// Returns "" when both give the same records (the same bytes, or the same error) and the same
// notices; else the first difference.
inline std::string CompareChunkedInput(InputFormat format, const std::string& input,
                                       size_t chunk_bytes) {
  std::istringstream one_in(input);
  std::unique_ptr<TapInputReader> reader = NewTapInputReader(format, &one_in);
  std::istringstream chunk_in(input);
  ChunkReader chunks(format, &chunk_in, chunk_bytes);
  InputChunk chunk;
  DecodedChunk decoded;
  size_t pos = 0, unreadable = 0, index = 0;
  TapInputRecord rec;
  while (true) {
    absl::StatusOr<bool> more = reader->Next(&rec);
    if (!more.ok()) return absl::StrCat("reader failed: ", more.status().message());
    while (pos == decoded.records.size()) {
      absl::StatusOr<bool> chunk_more = chunks.Next(&chunk);
      if (!chunk_more.ok()) return absl::StrCat("chunks failed: ", chunk_more.status().message());
      if (!*chunk_more) break;
      DecodeChunk(format, chunk, &decoded);
      pos = unreadable = 0;
    }
    const bool chunk_has = pos < decoded.records.size();
    if (!*more || !chunk_has) {
      if (*more != chunk_has) return absl::StrCat("record count differs at record ", index);
      break;
    }
    const bool chunk_bad =
        unreadable < decoded.unreadable.size() && decoded.unreadable[unreadable] == pos;
    if (chunk_bad != !rec.error.empty()) {
      return absl::StrCat("readability differs at record ", index, ": '", rec.error, "'");
    }
    if (chunk_bad) {
      if (decoded.errors[unreadable] != rec.error) {
        return absl::StrCat("error differs at record ", index, ": '", rec.error, "' vs '",
                            decoded.errors[unreadable], "'");
      }
      ++unreadable;
    } else if (AsString(decoded.records[pos]) != AsString(rec.bytes)) {
      return absl::StrCat("bytes differ at record ", index);
    }
    ++pos;
    ++index;
  }
  if (reader->notices() != chunks.notices()) return "notices differ";
  return "";
}

}  // namespace desfired::tap::testing

#endif  // DESFIRED_TESTS_UNIT_CORE_TAP_CHUNK_COMPARE_H_
