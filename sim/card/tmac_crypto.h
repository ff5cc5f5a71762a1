// The card side's Transaction MAC arithmetic (DESFire EV2/EV3, DESFire Light), written
// independently of the host's core/desfire/tmac.h: the session keys of a transaction and the
// Transaction MAC Value over the Transaction MAC Input (MF2DLHX0 §10.3 as the public sources
// quote it; ../shared/vectors/ev3_vectors.md §6).
//
//   TmacCardKeys k = TmacCardKeys::For(app_tmac_key, tmc_before, uid);
//   Bytes tmv = k.Tmv(tmi);        // 8 bytes
//
// Thread-safe: value types and pure functions. Keys are 16 bytes (AES-128), UIDs 7 bytes;
// other sizes give empty keys (the card never builds them from anything else).
#ifndef DESFIRED_SIM_CARD_TMAC_CRYPTO_H_
#define DESFIRED_SIM_CARD_TMAC_CRYPTO_H_

#include <cstdint>

#include "core/util/bytes.h"

namespace desfired::sim {

struct TmacCardKeys {
  Bytes ses_mac;  // SesTMMACKey
  Bytes ses_enc;  // SesTMENCKey

  // The keys for the transaction that takes the counter from `tmc` to `tmc` + 1.
  static TmacCardKeys For(ByteSpan tmac_key, uint32_t tmc, ByteSpan uid);
  // MACt of the TMI: every second byte of the CMAC, starting with byte 1.
  Bytes Tmv(ByteSpan tmi) const;
  // EncTMRI: the previous transaction's reader id (16 bytes) enciphered under SesTMENCKey
  // (AES, one block, IV zero), as CommitReaderID returns it. Empty for another length.
  Bytes EncryptReaderId(ByteSpan tmri) const;
};

// Adds one command's TMI part: `part`, then zeros up to the next multiple of 16 bytes.
void AddToTmi(ByteSpan part, Bytes& tmi);

}  // namespace desfired::sim

#endif  // DESFIRED_SIM_CARD_TMAC_CRYPTO_H_
