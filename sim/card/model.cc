#include "sim/card/model.h"

#include <algorithm>

namespace desfired::sim {

uint8_t DesKeyVersion(ByteSpan key) {
  uint8_t version = 0;
  for (size_t i = 0; i < 8 && i < key.size(); ++i) {
    version = static_cast<uint8_t>(version | (key[i] & 1) << (7 - i));
  }
  return version;
}

uint32_t File::StorageSize() const {
  switch (type) {
    case FileType::kStandard:
      return static_cast<uint32_t>(data.size());
    case FileType::kBackup:
      return static_cast<uint32_t>(2 * data.size());
    case FileType::kValue:
    case FileType::kTransactionMac:
      return kMemoryBlock;
    case FileType::kLinearRecord:
    case FileType::kCyclicRecord:
      return record_size * max_records;
  }
  return 0;
}

File* Application::FindFile(uint8_t file_id) {
  for (File& f : files) {
    if (f.id == file_id) return &f;
  }
  return nullptr;
}

CardState CardState::Blank() { return CardState{}; }

Application* CardState::FindApplication(uint32_t aid) {
  for (Application& a : applications) {
    if (a.aid == aid) return &a;
  }
  return nullptr;
}

uint32_t CardState::UsedMemory() const {
  uint32_t used = 0;
  for (const Application& a : applications) {
    used += kApplicationOverhead;
    for (const File& f : a.files) {
      used += (f.StorageSize() + kMemoryBlock - 1) / kMemoryBlock * kMemoryBlock;
    }
  }
  return used;
}

uint32_t CardState::FreeMemory() const {
  const uint32_t used = UsedMemory();
  return used >= capacity ? 0 : capacity - used;
}

}  // namespace desfired::sim
