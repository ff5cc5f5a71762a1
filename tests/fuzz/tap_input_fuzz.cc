// Fuzz target: the tap input readers (hex lines, binary, CSV) over arbitrary text. The first
// byte picks the format.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "core/tap/input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto format = static_cast<desfired::tap::InputFormat>(data[0] % 3);
  std::istringstream in(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  auto reader = desfired::tap::NewTapInputReader(format, &in);
  desfired::tap::TapInputRecord rec;
  for (int i = 0; i < 100000; ++i) {
    absl::StatusOr<bool> more = reader->Next(&rec);
    if (!more.ok() || !*more) break;
  }
  return 0;
}
