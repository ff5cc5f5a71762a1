// Fuzz target: the NATS publisher's on-disk buffer (server/nats/event_spool.h) reading a segment
// it did not write — any bytes, as a crash, a full disk or an edit would leave them. Open must
// keep the whole, valid records before the first bad one and nothing after it; every record it
// hands out must be one it can pop; appending must work afterwards.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "server/nats/event_spool.h"

namespace {

const std::string& Dir() {
  static const std::string* dir = [] {
    char templ[] = "/tmp/desfired-spool-fuzz-XXXXXX";
    if (mkdtemp(templ) == nullptr) std::abort();
    std::atexit([] { std::filesystem::remove_all(Dir()); });
    return new std::string(templ);
  }();
  return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using desfired::server::nats::EventSpool;
  const std::string dir = Dir() + "/spool";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directory(dir);
  {
    std::ofstream(dir + "/00000000000000000001.seg", std::ios::binary)
        .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto spool = EventSpool::Open({.dir = dir, .max_bytes = 1 << 20, .segment_bytes = 1 << 16});
  if (!spool.ok()) return 0;
  const uint64_t events = (*spool)->events();
  uint64_t popped = 0;
  for (;;) {
    auto front = (*spool)->Front(absl::ZeroDuration());
    if (!front.ok() || !front->has_value()) break;
    if (!(*spool)->PopFront().ok()) std::abort();
    ++popped;
  }
  if (popped > events) std::abort();
  if (!(*spool)
           ->Append({.msg_id = "i.1.1", .subject = "desfired.i.r.card", .payload = "{}"})
           .ok()) {
    std::abort();
  }
  return 0;
}
