// The persistent state of an emulated DESFire card: the PICC, its applications, keys and
// files, with the transaction (uncommitted) parts of backup, value and record files.
//
// These are plain data types: the rules (access rights, limits, secure messaging) live in
// Card (sim/card/card.h). A CardState is what a card image (sim/image/image.h) loads and
// saves.
//
//   CardState state = CardState::Blank();         // DES master key 00×8, no applications
//   state.applications.push_back(Application{...});
//
// Thread-compatible.
#ifndef DESFIRED_SIM_CARD_MODEL_H_
#define DESFIRED_SIM_CARD_MODEL_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "core/crypto/key_type.h"
#include "core/util/bytes.h"
#include "sim/card/sdm.h"

namespace desfired::sim {

// One key slot. DES-family keys are kept as the host sends them in ChangeKey (8, 16 or 24
// bytes); a 16-byte key whose halves are equal is a single-DES key. For DES-family keys the
// version lives in the parity bits of the first 8 bytes; `version` mirrors it.
struct Key {
  crypto::KeyType type = crypto::KeyType::kDes;
  Bytes value = Bytes(8, 0);
  uint8_t version = 0;
};

// Returns the version a DES-family key carries in the parity bits of its first 8 bytes
// (bit 7 from byte 0 ... bit 0 from byte 7).
uint8_t DesKeyVersion(ByteSpan key);

enum class FileType : uint8_t {
  kStandard = 0x00,
  kBackup = 0x01,
  kValue = 0x02,
  kLinearRecord = 0x03,
  kCyclicRecord = 0x04,
  kTransactionMac = 0x05,
};

struct AccessRights {
  uint8_t read = 0;
  uint8_t write = 0;
  uint8_t read_write = 0;
  uint8_t change = 0;

  // Wire form: two bytes, little-endian of (read << 12 | write << 8 | rw << 4 | change).
  uint16_t Encode() const {
    return static_cast<uint16_t>(read << 12 | write << 8 | read_write << 4 | change);
  }
  static AccessRights Decode(uint16_t v) {
    return {static_cast<uint8_t>(v >> 12 & 0xF), static_cast<uint8_t>(v >> 8 & 0xF),
            static_cast<uint8_t>(v >> 4 & 0xF), static_cast<uint8_t>(v & 0xF)};
  }
};

struct File {
  uint8_t id = 0;
  std::optional<uint16_t> iso_fid;
  FileType type = FileType::kStandard;
  uint8_t comm = 0;  // kCommPlain, kCommMac or kCommFull
  AccessRights access;

  // Standard and backup files: committed contents (size = file size).
  Bytes data;
  // Backup files: contents being written in the open transaction.
  std::optional<Bytes> pending_data;

  // Value files.
  int32_t lower_limit = 0;
  int32_t upper_limit = 0;
  int32_t value = 0;
  bool limited_credit_enabled = false;
  int32_t limited_credit_value = 0;
  std::optional<int32_t> pending_value;
  int32_t pending_debits = 0;     // sum of Debit in the open transaction
  bool pending_credited = false;  // Credit or LimitedCredit in the open transaction

  // Record files: records oldest first.
  uint32_t record_size = 0;
  uint32_t max_records = 0;
  std::deque<Bytes> records;
  std::optional<Bytes> pending_record;  // the record WriteRecord fills in this transaction
  bool pending_clear = false;

  // Standard files: SDM allowed (FileOption bit 6 at creation, as EV3 requires), its settings
  // when enabled, and SDMReadCtr (incremented by every read that mirrors; sim/card/sdm.h).
  bool sdm_allowed = false;
  std::optional<SdmConfig> sdm;
  uint32_t sdm_read_counter = 0;

  // TransactionMAC files (EV2/EV3; at most one per application): the AppTransactionMACKey
  // (AES) and its version, the counter and MAC of the last transaction committed (TMC, TMV;
  // ReadData shows TMC ‖ TMV) and the reader id that transaction committed (TMRI; zeros
  // before any).
  Bytes tmac_key;
  uint8_t tmac_key_version = 0;
  uint32_t tmc = 0;
  Bytes tmv = Bytes(8, 0);
  Bytes tmri = Bytes(16, 0);

  bool IsRecordFile() const {
    return type == FileType::kLinearRecord || type == FileType::kCyclicRecord;
  }
  // Size the file takes from the card's memory, in bytes before rounding.
  uint32_t StorageSize() const;
  bool HasPendingChanges() const {
    return pending_data.has_value() || pending_value.has_value() || pending_record.has_value() ||
           pending_clear;
  }
};

struct Application {
  uint32_t aid = 0;  // 24 bits; the wire carries it least significant byte first
  uint8_t key_settings = 0x0F;
  crypto::KeyType key_family = crypto::KeyType::kDes;  // kDes (DES/2K3DES), k3Tdea, kAes128
  bool iso_file_ids = false;
  std::optional<uint16_t> iso_fid;
  Bytes df_name;
  std::vector<Key> keys;
  std::vector<File> files;  // sorted by id

  File* FindFile(uint8_t file_id);
};

// Identification data returned by GetVersion (frames 1 and 2 are 7 bytes each; the third is
// UID ‖ batch ‖ week ‖ year).
struct VersionInfo {
  Bytes hardware = {0x04, 0x01, 0x01, 0x01, 0x00, 0x1A, 0x05};  // EV1 8K
  Bytes software = {0x04, 0x01, 0x01, 0x01, 0x04, 0x1A, 0x05};
  Bytes batch = {0xBA, 0x45, 0x19, 0xE3, 0x20};
  uint8_t week = 0x49;
  uint8_t year = 0x13;
};

struct CardState {
  Bytes uid = {0x04, 0x06, 0x3F, 0x72, 0x63, 0x34, 0x80};
  bool random_uid = false;  // GetVersion / anticollision show a random id; GetCardUID the real one
  uint8_t configuration = 0;  // SetConfiguration option 0 (kConfigFormatDisabled, kConfigRandomUid)
  // SetConfiguration option 1: key data (24 bytes) and version the keys of new applications
  // start with (AES: the first 16 bytes and this version; 3K3DES: 24 bytes; DES/2K3DES: the
  // first 16 bytes, version from their parity bits).
  Bytes default_key = Bytes(24, 0);
  uint8_t default_key_version = 0;
  // SetConfiguration option 2: the ATS sent at activation (TL first). Under PC/SC its
  // historical bytes make the ATR.
  Bytes ats = {0x06, 0x75, 0x77, 0x81, 0x02, 0x80};
  VersionInfo version;
  uint32_t capacity = 7936;  // user memory of an EV1 8K card after format
  Key picc_key;              // DES 00×8, version 0
  uint8_t picc_key_settings = 0x0F;
  std::vector<Application> applications;  // in creation order

  // A factory-fresh card: DES master key 00×8, settings 0x0F, no applications.
  static CardState Blank();

  Application* FindApplication(uint32_t aid);
  // Bytes in use (files rounded up to 32-byte blocks, plus a fixed cost per application).
  uint32_t UsedMemory() const;
  uint32_t FreeMemory() const;
};

// Memory accounting constants (the card allocates in 32-byte blocks).
inline constexpr uint32_t kMemoryBlock = 32;
inline constexpr uint32_t kApplicationOverhead = 64;

}  // namespace desfired::sim

#endif  // DESFIRED_SIM_CARD_MODEL_H_
