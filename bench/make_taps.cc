// Writes a synthetic tap file for the desfirectl benchmarks (bench/taps_cli_bench.sh): valid
// AES-CMAC records under bench::kKeyHex with duplicates, clock jumps, bad MACs and bad types
// mixed in (bench/tap_records.h).
//
//   make_taps COUNT bin|hex FILE
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bench/tap_records.h"

int main(int argc, char** argv) {
  using namespace desfired::tap;
  if (argc != 4 || (std::string(argv[2]) != "bin" && std::string(argv[2]) != "hex")) {
    std::fprintf(stderr, "usage: make_taps COUNT bin|hex FILE\n");
    return 2;
  }
  const uint64_t count = std::strtoull(argv[1], nullptr, 10);
  const bool hex = std::string(argv[2]) == "hex";
  std::ofstream out(argv[3], std::ios::binary);
  if (!out) {
    std::fprintf(stderr, "make_taps: cannot write %s\n", argv[3]);
    return 1;
  }
  const bench::RecordMaker maker({false, false, true});
  constexpr uint64_t kBlock = 1 << 16;
  std::vector<uint8_t> block(kBlock * kRecordSize);
  std::string text;
  for (uint64_t first = 0; first < count; first += kBlock) {
    const uint64_t n = std::min(kBlock, count - first);
    maker.Make(first, n, block.data());
    if (!hex) {
      out.write(reinterpret_cast<const char*>(block.data()),
                static_cast<std::streamsize>(n * kRecordSize));
      continue;
    }
    text.clear();
    for (uint64_t i = 0; i < n; ++i) {
      text += desfired::HexEncode(desfired::ByteSpan(&block[i * kRecordSize], kRecordSize));
      text += '\n';
    }
    out << text;
  }
  return out.good() ? 0 : 1;
}
