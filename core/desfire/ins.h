// DESFire native command codes (the INS byte of a wrapped `90 INS 00 00 Lc data 00` APDU).
//
//   Bytes payload = ...;
//   channel.Transceive(Ins::kGetVersion, {}, options);
//
// Names follow the NXP data sheets (MF3ICD81 for EV1, MF3D(H)x2 for EV2, MF3D(H)x3 for
// EV3). Only the commands the host sends are listed.
//
// Thread-safe: constants.
#ifndef DESFIRED_CORE_DESFIRE_INS_H_
#define DESFIRED_CORE_DESFIRE_INS_H_

#include <cstdint>

namespace desfired::desfire {

enum class Ins : uint8_t {
  // Security
  kAuthenticateLegacy = 0x0A,    // DES / 2K3DES, MF3ICD40 compatible ("decipher-send")
  kAuthenticateIso = 0x1A,       // DES / 2K3DES / 3K3DES
  kAuthenticateAes = 0xAA,       // AES-128 (EV1 secure messaging)
  kAuthenticateEv2First = 0x71,  // AES-128, EV2 secure messaging
  kAuthenticateEv2NonFirst = 0x77,
  kChangeKeySettings = 0x54,
  kSetConfiguration = 0x5C,
  kChangeKey = 0xC4,
  kChangeKeyEv2 = 0xC6,
  kInitializeKeySet = 0x56,
  kFinalizeKeySet = 0x57,
  kRollKeySet = 0x55,
  kGetKeySettings = 0x45,
  kGetKeyVersion = 0x64,
  // PICC level
  kCreateApplication = 0xCA,
  kDeleteApplication = 0xDA,
  kGetApplicationIds = 0x6A,
  kFreeMemory = 0x6E,
  kGetDfNames = 0x6D,
  kSelectApplication = 0x5A,
  kFormatPicc = 0xFC,
  kGetVersion = 0x60,
  kGetCardUid = 0x51,
  kReadSig = 0x3C,  // EV2+/NTAG 424 DNA originality signature (answers 91 90)
  // Application level
  kGetFileIds = 0x6F,
  kGetIsoFileIds = 0x61,
  kGetFileSettings = 0xF5,
  kChangeFileSettings = 0x5F,
  kCreateStdDataFile = 0xCD,
  kCreateBackupDataFile = 0xCB,
  kCreateValueFile = 0xCC,
  kCreateLinearRecordFile = 0xC1,
  kCreateCyclicRecordFile = 0xC0,
  kCreateTransactionMacFile = 0xCE,
  kDeleteFile = 0xDF,
  // Data manipulation
  kReadData = 0xBD,
  kWriteData = 0x3D,
  // EV2+ variants of ReadData / WriteData (ISO/IEC 7816-4 style chaining on the card side;
  // the only codes NTAG 424 DNA and DESFire Light accept). Same payloads.
  kReadDataIsoChaining = 0xAD,
  kWriteDataIsoChaining = 0x8D,
  kGetValue = 0x6C,
  kCredit = 0x0C,
  kDebit = 0xDC,
  kLimitedCredit = 0x1C,
  kWriteRecord = 0x3B,
  kUpdateRecord = 0xDB,
  kReadRecords = 0xBB,
  kClearRecordFile = 0xEB,
  kCommitTransaction = 0xC7,
  kAbortTransaction = 0xA7,
  kCommitReaderId = 0xC8,
  kGetFileCounters = 0xF6,
  // Framing
  kAdditionalFrame = 0xAF,
};

inline constexpr uint8_t ToByte(Ins ins) { return static_cast<uint8_t>(ins); }

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_INS_H_
