#include "core/desfire/card_types.h"

#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"
#include "core/util/status_macros.h"

namespace desfired::desfire {
namespace {

constexpr size_t kVersionPartLength = 7;
constexpr size_t kVersionLength = 28;  // hardware ‖ software ‖ UID(7) batch(5) week year
constexpr size_t kUidLength = 7;
constexpr size_t kBatchLength = 5;
constexpr uint8_t kCommModeMask = 0x03;
constexpr uint8_t kFileOptionAdditionalRights = 0x80;
constexpr uint8_t kValueOptionLimitedCredit = 0x01;
constexpr uint8_t kValueOptionFreeGetValue = 0x02;

VersionPart DecodePart(const uint8_t* p) {
  return VersionPart{.vendor_id = p[0],
                     .type = p[1],
                     .subtype = p[2],
                     .major_version = p[3],
                     .minor_version = p[4],
                     .storage_size = p[5],
                     .protocol = p[6]};
}

// Hardware major version → generation (NXP data sheets; libfreefare and proxmark3 read the
// same bytes): 0x00 MF3ICD40, 0x01 EV1, 0x12 EV2, 0x33 EV3; type 0x08 is DESFire Light.
CardGeneration GenerationOf(const VersionPart& hw) {
  if (hw.type == 0x08) return CardGeneration::kLight;
  if (hw.type != 0x01 && hw.type != 0x81) return CardGeneration::kUnknown;
  switch (hw.major_version) {
    case 0x00:
      return CardGeneration::kEv0;
    case 0x01:
      return CardGeneration::kEv1;
    case 0x12:
      return CardGeneration::kEv2;
    case 0x33:
      return CardGeneration::kEv3;
    default:
      return CardGeneration::kUnknown;
  }
}

int32_t Le32s(const uint8_t* p) { return static_cast<int32_t>(LoadLe32(p)); }

absl::Status TooShort(absl::string_view what, size_t got, size_t need) {
  return apdu::ProtocolError(
      absl::StrFormat("%s: expected at least %d bytes, got %d", what, need, got));
}

}  // namespace

absl::string_view CommModeName(CommMode mode) {
  switch (mode) {
    case CommMode::kPlain:
      return "PLAIN";
    case CommMode::kMac:
      return "MAC";
    case CommMode::kFull:
      return "FULL";
  }
  return "UNKNOWN";
}

absl::string_view CardGenerationName(CardGeneration generation) {
  switch (generation) {
    case CardGeneration::kEv0:
      return "EV0";
    case CardGeneration::kEv1:
      return "EV1";
    case CardGeneration::kEv2:
      return "EV2";
    case CardGeneration::kEv3:
      return "EV3";
    case CardGeneration::kLight:
      return "LIGHT";
    case CardGeneration::kUnknown:
      break;
  }
  return "UNKNOWN";
}

absl::StatusOr<CardVersion> DecodeVersion(ByteSpan data) {
  if (data.size() != kVersionLength && data.size() != kVersionLength + 1) {
    return apdu::ProtocolError(
        absl::StrFormat("GetVersion: expected 28 bytes, got %d", data.size()));
  }
  CardVersion v;
  v.hardware = DecodePart(data.data());
  v.software = DecodePart(data.data() + kVersionPartLength);
  const uint8_t* p = data.data() + 2 * kVersionPartLength;
  v.uid.assign(p, p + kUidLength);
  v.batch_number.assign(p + kUidLength, p + kUidLength + kBatchLength);
  v.production_week = p[kUidLength + kBatchLength];
  v.production_year = p[kUidLength + kBatchLength + 1];
  v.generation = GenerationOf(v.hardware);
  v.product = IdentifyProduct(v.hardware);
  const uint8_t exponent = v.hardware.storage_size >> 1;
  v.storage_bytes = exponent < 32 ? uint32_t{1} << exponent : 0;
  v.storage_larger = (v.hardware.storage_size & 1) != 0;
  return v;
}

absl::string_view KeyFamilyName(KeyFamily family) {
  switch (family) {
    case KeyFamily::kDes:
      return "DES";
    case KeyFamily::k3k3Des:
      return "3K3DES";
    case KeyFamily::kAes:
      return "AES";
  }
  return "UNKNOWN";
}

KeyFamily FamilyOf(crypto::KeyType type) {
  switch (type) {
    case crypto::KeyType::kAes128:
      return KeyFamily::kAes;
    case crypto::KeyType::k3Tdea:
      return KeyFamily::k3k3Des;
    default:
      return KeyFamily::kDes;
  }
}

absl::StatusOr<KeySettings> DecodeKeySettings(ByteSpan data) {
  if (data.size() != 2) {
    return apdu::ProtocolError(
        absl::StrFormat("GetKeySettings: expected 2 bytes, got %d", data.size()));
  }
  KeySettings s;
  s.settings = data[0];
  s.max_keys = data[1] & 0x0F;
  switch (data[1] & 0xC0) {
    case 0x40:
      s.key_family = KeyFamily::k3k3Des;
      break;
    case 0x80:
      s.key_family = KeyFamily::kAes;
      break;
    case 0x00:
      s.key_family = KeyFamily::kDes;
      break;
    default:
      return apdu::ProtocolError("GetKeySettings: unknown key family bits");
  }
  return s;
}

absl::string_view FileTypeName(FileType type) {
  switch (type) {
    case FileType::kStandardData:
      return "STANDARD_DATA";
    case FileType::kBackupData:
      return "BACKUP_DATA";
    case FileType::kValue:
      return "VALUE";
    case FileType::kLinearRecord:
      return "LINEAR_RECORD";
    case FileType::kCyclicRecord:
      return "CYCLIC_RECORD";
    case FileType::kTransactionMac:
      return "TRANSACTION_MAC";
  }
  return "UNKNOWN";
}

bool IsRecordFile(FileType type) {
  return type == FileType::kLinearRecord || type == FileType::kCyclicRecord;
}
bool IsDataFile(FileType type) {
  return type == FileType::kStandardData || type == FileType::kBackupData;
}

uint16_t AccessRights::Encode() const {
  return static_cast<uint16_t>((read & 0xF) << 12 | (write & 0xF) << 8 | (read_write & 0xF) << 4 |
                               (change & 0xF));
}

AccessRights AccessRights::Decode(uint16_t word) {
  return AccessRights{.read = static_cast<uint8_t>(word >> 12 & 0xF),
                      .write = static_cast<uint8_t>(word >> 8 & 0xF),
                      .read_write = static_cast<uint8_t>(word >> 4 & 0xF),
                      .change = static_cast<uint8_t>(word & 0xF)};
}

absl::StatusOr<FileSettings> DecodeFileSettings(ByteSpan data) {
  constexpr size_t kCommon = 4;  // type, comm settings, access rights (2)
  if (data.size() < kCommon) return TooShort("GetFileSettings", data.size(), kCommon);
  FileSettings s;
  if (data[0] > static_cast<uint8_t>(FileType::kTransactionMac)) {
    return apdu::ProtocolError(absl::StrFormat("GetFileSettings: unknown file type %02X", data[0]));
  }
  s.type = static_cast<FileType>(data[0]);
  const uint8_t comm = data[1] & kCommModeMask;
  s.comm_mode = comm == 0x03 ? CommMode::kFull : comm == 0x01 ? CommMode::kMac : CommMode::kPlain;
  s.access = AccessRights::Decode(static_cast<uint16_t>(LoadLe16(data.data() + 2)));
  const uint8_t* p = data.data() + kCommon;
  const size_t rest = data.size() - kCommon;
  switch (s.type) {
    case FileType::kStandardData:
    case FileType::kBackupData:
      if (rest < 3) return TooShort("GetFileSettings (data file)", data.size(), kCommon + 3);
      s.file_size = LoadLe24(p);
      if (s.type == FileType::kStandardData && (data[1] & kFileOptionSdm) != 0 &&
          (data[1] & kFileOptionAdditionalRights) == 0) {
        DESFIRED_ASSIGN_OR_RETURN(s.sdm, DecodeSdmSettings(data.subspan(kCommon + 3)));
      }
      break;
    case FileType::kValue:
      if (rest < 13) return TooShort("GetFileSettings (value file)", data.size(), kCommon + 13);
      s.lower_limit = Le32s(p);
      s.upper_limit = Le32s(p + 4);
      s.limited_credit_value = Le32s(p + 8);
      s.limited_credit_enabled = (p[12] & kValueOptionLimitedCredit) != 0;
      s.free_get_value = (p[12] & kValueOptionFreeGetValue) != 0;
      break;
    case FileType::kLinearRecord:
    case FileType::kCyclicRecord:
      if (rest < 9) return TooShort("GetFileSettings (record file)", data.size(), kCommon + 9);
      s.record_size = LoadLe24(p);
      s.max_records = LoadLe24(p + 3);
      s.current_records = LoadLe24(p + 6);
      break;
    case FileType::kTransactionMac:
      // EV2/EV3 answer TMKeyOption ‖ TMKeyVersion (the DESFire Light adds TMCLimit).
      if (rest >= 2) {
        s.tmac_key_option = p[0];
        s.tmac_key_version = p[1];
      }
      break;
  }
  return s;
}

CommMode EffectiveCommMode(const FileSettings& settings, std::initializer_list<uint8_t> rights) {
  for (uint8_t r : rights) {
    if (r == kAccessFree) return CommMode::kPlain;
  }
  return settings.comm_mode;
}

}  // namespace desfired::desfire
