// Fuzz target: the chunked tap input (core/tap/input_chunks.h) must read arbitrary text and
// bytes exactly as the record-by-record readers do. The first byte picks hex or binary and the
// block size (small ones, so lines and records cross block boundaries).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/unit/core/tap/chunk_compare.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto format =
      data[0] & 1 ? desfired::tap::InputFormat::kBinary : desfired::tap::InputFormat::kHex;
  const size_t chunk_bytes = 1 + (data[0] >> 1) * 3;
  const std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string diff = desfired::tap::testing::CompareChunkedInput(format, input, chunk_bytes);
  if (!diff.empty()) {
    std::fprintf(stderr, "chunked input differs: %s\n", diff.c_str());
    std::abort();
  }
  return 0;
}
