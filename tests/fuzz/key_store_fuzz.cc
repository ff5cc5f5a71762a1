// Fuzz target: the key-store file parser and the CSV id tables.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "core/keys/key_store.h"
#include "core/tap/id_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)desfired::keys::KeyStore::Parse(text, "fuzz");
  std::istringstream in(text);
  (void)desfired::tap::IdTable::LoadCsv(in, "fuzz", "terminal_id", 0xFFFFFF);
  return 0;
}
