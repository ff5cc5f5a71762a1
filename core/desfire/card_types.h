// Typed DESFire data: the card version, key settings, file settings and the specs for
// creating applications and files, with their wire encodings.
//
//   DESFIRED_ASSIGN_OR_RETURN(CardVersion v, DecodeVersion(get_version_reply));
//   if (v.generation == CardGeneration::kEv2) { ... }
//   DESFIRED_ASSIGN_OR_RETURN(FileSettings s, DecodeFileSettings(get_file_settings_reply));
//
// Encodings follow the NXP data sheets (MF3ICD81 for EV1, MF3D(H)x2 / MF3D(H)x3 for EV2 /
// EV3) as libfreefare and proxmark3 read them; multi-byte integers are little-endian.
//
// Thread-safe: value types and pure functions.
#ifndef DESFIRED_CORE_DESFIRE_CARD_TYPES_H_
#define DESFIRED_CORE_DESFIRE_CARD_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/crypto/key_type.h"
#include "core/desfire/product.h"
#include "core/desfire/sdm_settings.h"
#include "core/util/bytes.h"

namespace desfired::desfire {

// Communication mode, encoded as in the file settings byte.
enum class CommMode : uint8_t { kPlain = 0x00, kMac = 0x01, kFull = 0x03 };
absl::string_view CommModeName(CommMode mode);

// Largest application identifier (AIDs are 24-bit, sent least significant byte first).
inline constexpr uint32_t kMaxAid = 0xFFFFFF;
// Largest file number of a DESFire application (EV1: 0..31).
inline constexpr uint8_t kMaxFileNo = 0x1F;

// ---------------------------------------------------------------------------------------
// GetVersion (0x60): 7 hardware bytes, 7 software bytes, 14 production bytes.

enum class CardGeneration { kUnknown, kEv0, kEv1, kEv2, kEv3, kLight };
absl::string_view CardGenerationName(CardGeneration generation);  // "EV1" ...

struct VersionPart {
  uint8_t vendor_id = 0;  // 0x04 = NXP
  uint8_t type = 0;       // 0x01 = DESFire (0x08 DESFire Light)
  uint8_t subtype = 0;
  uint8_t major_version = 0;
  uint8_t minor_version = 0;
  uint8_t storage_size = 0;  // 2^(n >> 1) bytes; n odd: more than that, less than twice
  uint8_t protocol = 0;      // 0x05 = ISO/IEC 14443-2 and -3
};

struct CardVersion {
  VersionPart hardware;
  VersionPart software;
  Bytes uid;                    // 7 bytes; all zero when the card answers with random UIDs
  Bytes batch_number;           // 5 bytes
  uint8_t production_week = 0;  // BCD, as on the card
  uint8_t production_year = 0;  // BCD
  CardGeneration generation = CardGeneration::kUnknown;
  CardProduct product = CardProduct::kUnknown;  // product.h
  uint32_t storage_bytes = 0;                   // from the hardware storage byte
  bool storage_larger = false;  // odd storage byte: between storage_bytes and twice that
};

// Decodes the 28 bytes of a GetVersion reply (a 29th byte, some EV3 cards' fab key id, is
// ignored). INTERNAL / PROTOCOL_ERROR for another length.
absl::StatusOr<CardVersion> DecodeVersion(ByteSpan data);

// ---------------------------------------------------------------------------------------
// Key settings (GetKeySettings 0x45 / ChangeKeySettings 0x54 / CreateApplication).

// The key family of an application, in the high bits of the "number of keys" byte.
enum class KeyFamily : uint8_t { kDes = 0x00, k3k3Des = 0x40, kAes = 0x80 };
absl::string_view KeyFamilyName(KeyFamily family);
// The family a key type belongs to (DES and 2TDEA share kDes).
KeyFamily FamilyOf(crypto::KeyType type);

// Bits of the key settings byte.
inline constexpr uint8_t kKeySettingAllowChangeMasterKey = 0x01;
inline constexpr uint8_t kKeySettingFreeDirectoryList = 0x02;
inline constexpr uint8_t kKeySettingFreeCreateDelete = 0x04;
inline constexpr uint8_t kKeySettingConfigurationChangeable = 0x08;
// High nibble: the key that may change keys (0x0E: each key itself, 0x0F: frozen).

struct KeySettings {
  uint8_t settings = 0;
  uint8_t max_keys = 0;  // 1..14 (PICC level: 1)
  KeyFamily key_family = KeyFamily::kDes;
};
absl::StatusOr<KeySettings> DecodeKeySettings(ByteSpan data);

// ---------------------------------------------------------------------------------------
// Files.

enum class FileType : uint8_t {
  kStandardData = 0x00,
  kBackupData = 0x01,
  kValue = 0x02,
  kLinearRecord = 0x03,
  kCyclicRecord = 0x04,
  kTransactionMac = 0x05,
};
absl::string_view FileTypeName(FileType type);
bool IsRecordFile(FileType type);
bool IsDataFile(FileType type);

// Access-right key numbers: 0x0..0xD a key, 0xE free, 0xF never.
inline constexpr uint8_t kAccessFree = 0x0E;
inline constexpr uint8_t kAccessNever = 0x0F;

struct AccessRights {
  uint8_t read = kAccessNever;
  uint8_t write = kAccessNever;
  uint8_t read_write = kAccessNever;
  uint8_t change = kAccessNever;

  // The 16-bit word: read << 12 | write << 8 | read_write << 4 | change (sent LE).
  uint16_t Encode() const;
  static AccessRights Decode(uint16_t word);
  bool operator==(const AccessRights&) const = default;
};

struct FileSettings {
  FileType type = FileType::kStandardData;
  CommMode comm_mode = CommMode::kPlain;
  AccessRights access;
  // Standard and backup data files.
  uint32_t file_size = 0;
  // Value files.
  int32_t lower_limit = 0;
  int32_t upper_limit = 0;
  int32_t limited_credit_value = 0;
  bool limited_credit_enabled = false;
  bool free_get_value = false;  // EV1 option bit 1: GetValue without authentication
  // Record files.
  uint32_t record_size = 0;
  uint32_t max_records = 0;
  uint32_t current_records = 0;
  // Standard data files with FileOption bit 6 (NTAG 424 DNA, EV3, Light): SDM (sdm_settings.h).
  std::optional<SdmSettings> sdm = std::nullopt;
  // TransactionMAC files: TMKeyOption (02: AES) and the AppTransactionMACKey's version. Their
  // access rights' RW nibble is CommitReaderID's (a key, 0xE free, 0xF disabled), the read
  // nibble ReadData's (TMC ‖ TMV).
  uint8_t tmac_key_option = 0;
  uint8_t tmac_key_version = 0;
};
// INTERNAL / PROTOCOL_ERROR when the reply is too short for its file type or the type is
// unknown, or its SDM settings do not decode. Other trailing bytes (EV2 additional access
// rights) are ignored.
absl::StatusOr<FileSettings> DecodeFileSettings(ByteSpan data);

// The communication mode the card uses for an operation that any of `rights` allows: plain
// when one of them is free access (0xE), otherwise the file's mode.
CommMode EffectiveCommMode(const FileSettings& settings, std::initializer_list<uint8_t> rights);

// ---------------------------------------------------------------------------------------
// Creating applications and files.

struct ApplicationSpec {
  uint32_t aid = 0;             // 1..0xFFFFFF
  uint8_t key_settings = 0x0F;  // see the kKeySetting* bits; high nibble change-key key
  uint8_t num_keys = 1;         // 1..14
  KeyFamily key_family = KeyFamily::kAes;
  std::optional<uint16_t> iso_file_id = std::nullopt;  // EV1 ISO DF id (with a DF name)
  Bytes df_name = {};                                  // 1..16 bytes, with iso_file_id
};

struct DataFileSpec {
  uint8_t file_no = 0;
  bool backup = false;  // a backup data file (changes need CommitTransaction)
  std::optional<uint16_t> iso_file_id = std::nullopt;
  CommMode comm_mode = CommMode::kPlain;
  AccessRights access;
  uint32_t size = 0;  // 1..0xFFFFFF
  // EV3: FileOption bit 6, so that ChangeFileSettings may enable SDM later (standard files
  // only; the SDM settings themselves come with ChangeFileSettings).
  bool sdm = false;
};

struct ValueFileSpec {
  uint8_t file_no = 0;
  CommMode comm_mode = CommMode::kPlain;
  AccessRights access;
  int32_t lower_limit = 0;
  int32_t upper_limit = 0;
  int32_t value = 0;
  bool limited_credit_enabled = false;
  bool free_get_value = false;
};

struct RecordFileSpec {
  uint8_t file_no = 0;
  bool cyclic = false;
  std::optional<uint16_t> iso_file_id = std::nullopt;
  CommMode comm_mode = CommMode::kPlain;
  AccessRights access;
  uint32_t record_size = 0;  // 1..0xFFFFFF
  uint32_t max_records = 0;  // cyclic: at least 2 (one is kept free for the next write)
};

// CreateTransactionMACFile (0xCE; card_tmac.cc). `access.read_write` enables CommitReaderID
// (a key number, kAccessFree) or disables it (kAccessNever); `access.write` is unused (0xF).
struct TransactionMacFileSpec {
  uint8_t file_no = 0;
  CommMode comm_mode = CommMode::kPlain;
  AccessRights access;
  ByteSpan key;  // the AppTransactionMACKey (AES-128), borrowed for the call
  uint8_t key_version = 0;
};

// GetDFNames (0x6D): one entry per application with an ISO DF name.
struct DfName {
  uint32_t aid = 0;
  uint16_t iso_file_id = 0;
  Bytes name;
};

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_CARD_TYPES_H_
