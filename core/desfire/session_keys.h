// Session-key derivation for DESFire authentication (pure functions, no card I/O).
//
// EV1 (auth 0A / 1A / AA), from RndA and RndB as transmitted (byte 0 first):
//   DES      RndA[0..3] ‖ RndB[0..3]
//   2K3DES   RndA[0..3] ‖ RndB[0..3] ‖ RndA[4..7]   ‖ RndB[4..7]
//   3K3DES   RndA[0..3] ‖ RndB[0..3] ‖ RndA[6..9]   ‖ RndB[6..9] ‖ RndA[12..15] ‖ RndB[12..15]
//   AES-128  RndA[0..3] ‖ RndB[0..3] ‖ RndA[12..15] ‖ RndB[12..15]
// EV2 (auth 71 / 77), AES-128 only (LRP: see DeriveLrpSessionMasterKey):
//   SV1 = A5 5A 00 01 00 80 ‖ RndA[0..1] ‖ (RndA[2..7] ⊕ RndB[0..5]) ‖ RndB[6..15] ‖ RndA[8..15]
//   SV2 = the same with 5A A5;  SesAuthENCKey = CMAC_K(SV1), SesAuthMACKey = CMAC_K(SV2).
//
//   DESFIRED_ASSIGN_OR_RETURN(Bytes k, DeriveEv1SessionKey(KeyType::kAes128, rnd_a, rnd_b));
//
// Errors: INVALID_ARGUMENT when RndA / RndB do not have the length the key type uses
// (8 bytes for DES and 2K3DES, 16 for 3K3DES and AES) or the EV2 key is not 16 bytes.
// The returned key bytes are the caller's to wipe (crypto::SecureWipe).
//
// Thread-safe: pure functions.
#ifndef DESFIRED_CORE_DESFIRE_SESSION_KEYS_H_
#define DESFIRED_CORE_DESFIRE_SESSION_KEYS_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "core/crypto/key_cipher.h"
#include "core/crypto/key_type.h"
#include "core/util/bytes.h"

namespace desfired::desfire {

// Length of RndA / RndB for an EV1 authentication with a key of `type`.
size_t RandomLength(crypto::KeyType type);

absl::StatusOr<Bytes> DeriveEv1SessionKey(crypto::KeyType type, ByteSpan rnd_a, ByteSpan rnd_b);

struct Ev2SessionKeys {
  Bytes enc;  // SesAuthENCKey
  Bytes mac;  // SesAuthMACKey
};
absl::StatusOr<Ev2SessionKeys> DeriveEv2SessionKeys(ByteSpan key, ByteSpan rnd_a, ByteSpan rnd_b);
// The same with the card key behind a KeyCipher (a token key: the CMACs run in the token, the
// session keys come back to the host).
absl::StatusOr<Ev2SessionKeys> DeriveEv2SessionKeys(const crypto::KeyCipher& key, ByteSpan rnd_a,
                                                    ByteSpan rnd_b);

// LRP (AuthenticateLRPFirst / NonFirst; pm3 DesfireGenSessionKeyLRP, MF2DLHX0 p.35):
//   SV = 00 01 00 80 ‖ RndA[0..1] ‖ (RndA[2..7] ⊕ RndB[0..5]) ‖ RndB[6..15] ‖ RndA[8..15] ‖ 96 69
//   SesAuthMasterKey = CMAC_LRP(K; SV); the MAC key is its LRP instance with UK0, the ENC key
//   with UK1 (lrp_messaging.h).
absl::StatusOr<Bytes> DeriveLrpSessionMasterKey(ByteSpan key, ByteSpan rnd_a, ByteSpan rnd_b);

// Rotates left by one byte (RndB → RndB').
Bytes RotateLeft(ByteSpan data);

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_SESSION_KEYS_H_
