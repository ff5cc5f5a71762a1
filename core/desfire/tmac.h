// Transaction MAC (DESFire EV2/EV3, DESFire Light): the host side's session keys, Transaction
// MAC Input (TMI) and Transaction MAC Value (TMV), as pure functions. The formulas are those
// of the DESFire Light data sheet MF2DLHX0 §10.3 as public sources quote them (pm3
// desfirecrypto.c DesfireGenTransSessionKeyEV2; ../shared/vectors/ev3_vectors.md §6):
//
//   SV1 = 5A 00 01 00 80 ‖ (TMC + 1, 4 bytes LSB first) ‖ UID (7 bytes)     (16 bytes)
//   SV2 = A5 00 01 00 80 ‖ (TMC + 1) ‖ UID
//   SesTMMACKey = CMAC(AppTransactionMACKey; SV1), SesTMENCKey = CMAC(AppTransactionMACKey; SV2)
//   TMV = the 8 odd bytes (1, 3, .. 15) of CMAC(SesTMMACKey; TMI)
//   TMI: per command, its plain parameters and data, zero-padded to a 16-byte boundary; a
//   value command (GetValue, Credit, Debit, LimitedCredit): Cmd ‖ FileNo ‖ Value (4, LSB
//   first) ‖ 00 × 10; a read or write: Cmd ‖ FileNo ‖ Offset (3) ‖ Length (3) ‖ 00 × 8 ‖ Data
//   ‖ ZeroPadding (a read of "the rest" counts the bytes it returned); ClearRecordFile: Cmd ‖
//   FileNo; CommitReaderID (NXP's reader library phalMfdfEVx): Cmd ‖ TMRI ‖ EncTMRI.
//   EncTMRI = E(SesTMENCKey, TMRIPrev), one AES block, IV zero.
//
//   DESFIRED_ASSIGN_OR_RETURN(TmacSessionKeys k, DeriveTmacSessionKeys(tmac_key, tmc, uid));
//   Bytes tmi;
//   AppendTmi(tmi, TmiValueEntry(0xDC, 1, 150));
//   DESFIRED_ASSIGN_OR_RETURN(Bytes tmv, ComputeTmv(k.mac, tmi));
//
// No public TMV test vector exists (ev3_vectors.md §6): the session keys are tested against
// pm3's vector, the TMV against the emulator's independent implementation
// (sim/card/tmac_crypto.h).
//
// A transaction committed with CommitTransaction option 01 (TransactionMac) is checked by
// VerifyTransactionMac with the AppTransactionMACKey from the key store.
//
// Errors: INVALID_ARGUMENT for a key that is not 16 bytes or a UID that is not 7 bytes.
// Returned key bytes are the caller's to wipe. Thread-safe: pure functions.
#ifndef DESFIRED_CORE_DESFIRE_TMAC_H_
#define DESFIRED_CORE_DESFIRE_TMAC_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/util/bytes.h"

namespace desfired::desfire {

inline constexpr size_t kTmvLength = 8;
inline constexpr size_t kTmcLength = 4;
inline constexpr size_t kTmriLength = 16;

// What CommitTransaction with option 01 answered, with what the host collected for it.
struct TransactionMac {
  uint32_t tmc = 0;      // the counter after this transaction
  Bytes tmv = {};        // 8 bytes, as the card sent them
  Bytes tmi = {};        // the host's Transaction MAC Input of the transaction
  Bytes reader_id = {};  // the TMRI CommitReaderID sent in the transaction (empty: none)
};

struct TmacSessionKeys {
  Bytes mac;  // SesTMMACKey
  Bytes enc;  // SesTMENCKey
};

// The keys of the transaction that ends with Transaction MAC Counter `tmc` + 1 (`tmc` is the
// counter before it, as the card reports it).
absl::StatusOr<TmacSessionKeys> DeriveTmacSessionKeys(ByteSpan tmac_key, uint32_t tmc,
                                                      ByteSpan uid);

// Appends `entry` to `tmi`, zero-padded to a 16-byte boundary.
void AppendTmi(Bytes& tmi, ByteSpan entry);

// The TMI entry of a value command: Cmd ‖ FileNo ‖ Value (LSB first).
Bytes TmiValueEntry(uint8_t cmd, uint8_t file_no, int32_t value);

// The TMI entry of a read or write: Cmd ‖ FileNo ‖ `first` (3, LSB first) ‖ `second` (3).
Bytes TmiIoEntry(uint8_t cmd, uint8_t file_no, uint32_t first, uint32_t second);

// CommitTransaction's answer to option 01: TMC (4, LSB first) ‖ TMV (8). INTERNAL /
// PROTOCOL_ERROR for another length.
absl::Status DecodeCommitAnswer(ByteSpan answer, TransactionMac& out);

// The reader id of the transaction before (TMRIPrev) from CommitReaderID's EncTMRI, under the
// keys of the transaction that CommitReaderID was part of.
absl::StatusOr<Bytes> DecryptPreviousReaderId(const TmacSessionKeys& keys, ByteSpan enc_tmri);

// True when `mac.tmv` is the TMV of `mac.tmi` under the keys of counter `mac.tmc` (derived
// from `tmac_key` and `uid`), compared in constant time. False for a TMC of 0 (no transaction
// was MACed) and for keys or UIDs of the wrong size.
bool VerifyTransactionMac(ByteSpan tmac_key, ByteSpan uid, const TransactionMac& mac);

// The TMV of `tmi` under SesTMMACKey.
absl::StatusOr<Bytes> ComputeTmv(ByteSpan ses_tm_mac_key, ByteSpan tmi);

// True when `tmv` is ComputeTmv(ses_tm_mac_key, tmi), compared in constant time.
bool TmvMatches(ByteSpan ses_tm_mac_key, ByteSpan tmi, ByteSpan tmv);

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_TMAC_H_
