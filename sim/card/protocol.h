// Protocol constants of the emulated MIFARE DESFire card: native instruction codes, the
// card's status bytes (one table), ISO 7816-4 bytes used by the APDU front, and limits.
//
// This header is the card's own copy of the protocol facts. It must not be shared with the
// host side (core/desfire): the card and the host are written independently so that a
// protocol bug cannot hide on both sides.
//
// Thread-safe: constants and pure functions only.
#ifndef DESFIRED_SIM_CARD_PROTOCOL_H_
#define DESFIRED_SIM_CARD_PROTOCOL_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/util/bytes.h"

namespace desfired::sim {

// Native DESFire command codes (the INS byte of a wrapped APDU).
enum class Ins : uint8_t {
  kAuthenticateLegacy = 0x0A,
  kAuthenticateIso = 0x1A,
  kAuthenticateAes = 0xAA,
  kAuthenticateEv2First = 0x71,
  kAuthenticateEv2NonFirst = 0x77,
  kChangeKeySettings = 0x54,
  kSetConfiguration = 0x5C,
  kChangeKey = 0xC4,
  kGetKeyVersion = 0x64,
  kCreateApplication = 0xCA,
  kDeleteApplication = 0xDA,
  kGetApplicationIds = 0x6A,
  kFreeMemory = 0x6E,
  kGetDfNames = 0x6D,
  kGetKeySettings = 0x45,
  kSelectApplication = 0x5A,
  kFormatPicc = 0xFC,
  kGetVersion = 0x60,
  kGetCardUid = 0x51,
  kReadSig = 0x3C,  // originality signature (answers 91 90)
  kGetFileIds = 0x6F,
  kGetIsoFileIds = 0x61,
  kGetFileSettings = 0xF5,
  kChangeFileSettings = 0x5F,
  kCreateStdDataFile = 0xCD,
  kCreateBackupDataFile = 0xCB,
  kCreateValueFile = 0xCC,
  kCreateLinearRecordFile = 0xC1,
  kCreateCyclicRecordFile = 0xC0,
  kCreateTransactionMacFile = 0xCE,  // EV2/EV3: file type 05 (card_tmac.cc)
  kDeleteFile = 0xDF,
  kReadData = 0xBD,
  kReadDataIsoChained = 0xAD,  // EV2 alias of ReadData
  kWriteData = 0x3D,
  kWriteDataIsoChained = 0x8D,  // EV2 alias of WriteData
  kGetValue = 0x6C,
  kCredit = 0x0C,
  kDebit = 0xDC,
  kLimitedCredit = 0x1C,
  kWriteRecord = 0x3B,
  kWriteRecordIsoChained = 0x8B,  // EV2 alias of WriteRecord
  kReadRecords = 0xBB,
  kReadRecordsIsoChained = 0xAB,  // EV2 alias of ReadRecords
  kClearRecordFile = 0xEB,
  kCommitTransaction = 0xC7,
  kAbortTransaction = 0xA7,
  kCommitReaderId = 0xC8,  // EV2/EV3: the reader id inside a transaction (card_tmac.cc)
  kAdditionalFrame = 0xAF,
};

// Card status bytes (SW2 after 0x91 in wrapped mode, first byte in native mode).
enum class Sw : uint8_t {
  kOk = 0x00,
  kNoChanges = 0x0C,
  kOutOfEeprom = 0x0E,
  kIllegalCommand = 0x1C,
  kIntegrityError = 0x1E,
  kNoSuchKey = 0x40,
  kLengthError = 0x7E,
  kPermissionDenied = 0x9D,
  kParameterError = 0x9E,
  kApplicationNotFound = 0xA0,
  kApplicationIntegrityError = 0xA1,
  kAuthenticationError = 0xAE,
  kAdditionalFrame = 0xAF,
  kSignature = 0x90,  // ReadSig's success status (real cards answer 91 90, not 91 00)
  kBoundaryError = 0xBE,
  kPiccIntegrityError = 0xC1,
  kCommandAborted = 0xCA,
  kPiccDisabled = 0xCD,
  kCountError = 0xCE,
  kDuplicateError = 0xDE,
  kEepromError = 0xEE,
  kFileNotFound = 0xF0,
  kFileIntegrityError = 0xF1,
};

// The name of a status byte as the data sheet spells it ("PERMISSION_DENIED"), or
// "UNKNOWN_STATUS".
absl::string_view SwName(Sw sw);

// ISO 7816-4 bytes the APDU front understands.
inline constexpr uint8_t kClaIso = 0x00;
inline constexpr uint8_t kClaNativeWrapped = 0x90;
inline constexpr uint8_t kClaReader = 0xFF;  // pseudo-APDUs handled by a PC/SC reader
inline constexpr uint8_t kInsIsoSelect = 0xA4;
inline constexpr uint8_t kInsReaderGetData = 0xCA;
inline constexpr uint8_t kSw1Desfire = 0x91;  // wrapped replies: data ‖ 91 status
inline constexpr uint8_t kP1SelectByDfName = 0x04;
inline constexpr uint8_t kP1GetDataHistorical = 0x01;  // FF CA 01 00: ATS historical bytes

// ISO 7816-4 status words the front answers with.
enum class IsoSw : uint16_t {
  kOk = 0x9000,
  kWrongLength = 0x6700,
  kFileNotFound = 0x6A82,
  kWrongP1P2 = 0x6A86,
  kInsNotSupported = 0x6D00,
  kClaNotSupported = 0x6E00,
  kFunctionNotSupported = 0x6A81,
  // The ISO file commands (card_iso.cc).
  kIncompatibleFile = 0x6981,
  kSecurityNotSatisfied = 0x6982,
  kConditionsNotSatisfied = 0x6985,
  kNoCurrentEf = 0x6986,
  kRecordNotFound = 0x6A83,
  kFileFull = 0x6A84,
  kWrongOffset = 0x6B00,
};

// The DESFire PICC-level ISO DF name (SELECT by name selects the PICC level).
inline constexpr uint8_t kDesfireDfName[] = {0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x00};

// Limits of an EV1 card.
inline constexpr size_t kMaxApplications = 28;
inline constexpr size_t kMaxFilesPerApplication = 32;
inline constexpr uint8_t kMaxFileId = 0x1F;
inline constexpr size_t kMaxKeysPerApplication = 14;
inline constexpr size_t kMaxDfNameLength = 16;
inline constexpr size_t kUidLength = 7;
// Largest data part of one response frame (the card's frame is 64 bytes: PCB, CID, status,
// CRC and one spare byte leave 59).
inline constexpr size_t kMaxResponseFrameData = 59;

// Access-right nibble values with a fixed meaning.
inline constexpr uint8_t kAccessFree = 0x0E;
inline constexpr uint8_t kAccessNever = 0x0F;

// Bits of the key settings byte (KeySett1).
inline constexpr uint8_t kKsAllowChangeMasterKey = 0x01;
inline constexpr uint8_t kKsFreeDirectoryList = 0x02;
inline constexpr uint8_t kKsFreeCreateDelete = 0x04;
inline constexpr uint8_t kKsConfigurationChangeable = 0x08;
inline constexpr uint8_t kKsChangeKeyShift = 4;
inline constexpr uint8_t kKsChangeKeySameKey = 0x0E;
inline constexpr uint8_t kKsChangeKeyFrozen = 0x0F;

// KeySett2 of CreateApplication / GetKeySettings: crypto method in bits 7..6, ISO file ids
// in bit 5, number of keys in bits 3..0.
inline constexpr uint8_t kKs2CryptoMask = 0xC0;
inline constexpr uint8_t kKs2CryptoDes = 0x00;
inline constexpr uint8_t kKs2Crypto3k3des = 0x40;
inline constexpr uint8_t kKs2CryptoAes = 0x80;
inline constexpr uint8_t kKs2IsoFileIds = 0x20;
inline constexpr uint8_t kKs2KeyCountMask = 0x0F;

// File communication settings byte.
inline constexpr uint8_t kCommPlain = 0x00;
inline constexpr uint8_t kCommMac = 0x01;
inline constexpr uint8_t kCommFull = 0x03;

// Transaction MAC (card_tmac.cc). CreateTransactionMACFile: FileNo ‖ CommSettings ‖ access
// rights (2; the RW nibble says who may send CommitReaderID: a key number, E free, F
// disabled) ‖ TMKeyOption (02: AES) in clear, then AppTransactionMACKey (16) ‖ its version,
// enciphered. CommitTransaction's option byte 01 asks for TMC (4, LSB first) ‖ TMV (8).
inline constexpr size_t kTmacHeaderLength = 5;
inline constexpr uint8_t kTmacKeyOptionAes = 0x02;
inline constexpr size_t kTmacKeyLength = 16;
inline constexpr size_t kTmvLength = 8;
inline constexpr size_t kReaderIdLength = 16;
inline constexpr uint8_t kCommitOptionTmac = 0x01;

// SetConfiguration (0x5C): option byte in clear, then the enciphered data.
//   option 0: the PICC configuration byte (bit 0 format disabled, bit 1 random UID; both are
//             one-way: once set they stay set);
//   option 1: the default key: 24 bytes of key data (zero padded) ‖ key version; the keys of
//             every application created later start with it;
//   option 2: the user-defined ATS, TL first (TL = its length), sent at the next activation;
//             in EV1/legacy sessions padded 80 00.. after the CRC (as libfreefare sends it).
inline constexpr uint8_t kConfigOptionPicc = 0x00;
inline constexpr uint8_t kConfigOptionDefaultKey = 0x01;
inline constexpr uint8_t kConfigOptionAts = 0x02;
inline constexpr uint8_t kConfigFormatDisabled = 0x01;
inline constexpr uint8_t kConfigRandomUid = 0x02;
inline constexpr uint8_t kConfigPiccMask = kConfigFormatDisabled | kConfigRandomUid;
inline constexpr size_t kDefaultKeyDataLength = 24;
inline constexpr size_t kMaxAtsLength = 20;

// The ATS of a native DESFire EV1 (TL 06, T0 75: TA1 TB1 TC1 present, FSCI 5; historical
// byte 80).
inline constexpr uint8_t kDefaultAts[] = {0x06, 0x75, 0x77, 0x81, 0x02, 0x80};

// True when `ats` is a well-formed ATS: 2..kMaxAtsLength bytes, TL equal to the length, and
// the interface bytes T0 announces (bits 4..6: TA1, TB1, TC1) present.
bool IsValidAts(ByteSpan ats);
// The historical bytes of a well-formed ATS (after TL, T0 and the interface bytes).
ByteSpan AtsHistoricalBytes(ByteSpan ats);
// The ATR a PC/SC reader builds for an ISO 14443-4 type A card (PC/SC part 3):
// 3B 8n 80 01 ‖ historical bytes (at most 15) ‖ TCK. The default ATS gives 3B 81 80 01 80 80.
Bytes AtrFromAts(ByteSpan ats);

}  // namespace desfired::sim

#endif  // DESFIRED_SIM_CARD_PROTOCOL_H_
