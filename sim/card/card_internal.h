// Constants and helpers shared by the Card command files (card.cc, card_apps.cc, card_files.cc,
// card_data.cc, card_iso.cc). Internal to sim/card: not for use outside the Card implementation.
//
// Thread-safe: pure functions.
#ifndef DESFIRED_SIM_CARD_CARD_INTERNAL_H_
#define DESFIRED_SIM_CARD_CARD_INTERNAL_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "core/util/bytes.h"
#include "sim/card/model.h"
#include "sim/card/protocol.h"
#include "sim/card/secure_channel.h"

namespace desfired::sim {

inline constexpr size_t kAidLength = 3;
inline constexpr size_t kIoHeaderLength = 7;  // file no ‖ offset(3) ‖ length(3)
inline constexpr size_t kValueLength = 4;
inline constexpr uint8_t kPiccKeyNoTypeMask = 0xC0;
inline constexpr uint8_t kAppKeyNoMask = 0x0F;
inline constexpr uint8_t kCommModeMask = 0x03;

// Appends `v` as 3 / 4 little-endian bytes.
inline void AppendLe24(uint32_t v, Bytes& out) {
  uint8_t b[3];
  StoreLe24(v, b);
  out.insert(out.end(), b, b + 3);
}
inline void AppendLe32(uint32_t v, Bytes& out) {
  uint8_t b[4];
  StoreLe32(v, b);
  out.insert(out.end(), b, b + 4);
}

// A 16-byte DES-family key whose halves are equal is a single DES key: its 8 bytes. Any
// other key is returned as is.
inline Bytes NormalizeDesKey(ByteSpan key) {
  if (key.size() == 16 && std::equal(key.begin(), key.begin() + 8, key.begin() + 8)) {
    return Bytes(key.begin(), key.begin() + 8);
  }
  return Bytes(key.begin(), key.end());
}

// Command protection of data sent to a file with communication mode `comm`.
inline CmdProtection WriteProtection(uint8_t comm) {
  if (comm == kCommFull) return CmdProtection::kFull;
  if (comm == kCommMac) return CmdProtection::kMac;
  return CmdProtection::kPlain;
}
// Command protection of a read request (EV2 MACs it unless the file is plain).
inline CmdProtection ReadRequestProtection(uint8_t comm) {
  return comm == kCommPlain ? CmdProtection::kPlain : CmdProtection::kMacEv2;
}

// An ISO 7816-4 answer: `data` ‖ SW1 SW2.
inline Bytes IsoAnswer(IsoSw sw, Bytes data = {}) {
  const uint16_t v = static_cast<uint16_t>(sw);
  data.push_back(static_cast<uint8_t>(v >> 8));
  data.push_back(static_cast<uint8_t>(v));
  return data;
}

// Standard and backup files: the files ReadData, WriteData and READ / UPDATE BINARY reach.
inline bool IsDataFile(const File& f) {
  return f.type == FileType::kStandard || f.type == FileType::kBackup;
}

// The bytes a write to data file `f` changes: a backup file's pending copy (made by the first
// write before CommitTransaction), a standard file's data.
inline Bytes& WriteTarget(File& f) {
  if (f.type != FileType::kBackup) return f.data;
  return f.pending_data ? *f.pending_data : f.pending_data.emplace(f.data);
}

}  // namespace desfired::sim

#endif  // DESFIRED_SIM_CARD_CARD_INTERNAL_H_
