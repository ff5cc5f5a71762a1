// NXP AN10922 key diversification.
//
// AES-128: diversified key = CMAC_K(01 ‖ M), where the CMAC input is padded to 32 bytes
// (80 00 ...) whenever it is shorter than 32, so the padded path (subkey K2) is taken.
// 2TDEA: CMAC_K(21 ‖ M) ‖ CMAC_K(22 ‖ M); 3TDEA: CMAC_K(31 ‖ M) ‖ CMAC_K(32 ‖ M) ‖
// CMAC_K(33 ‖ M), each padded to 16 bytes (two DES blocks) likewise.
// M is 1..31 bytes (1..15 for the DES family).
//
// The DES-family results are returned raw, as computed (no key-version bits stamped in).
//
//   DESFIRED_ASSIGN_OR_RETURN(Bytes k, DiversifyKey(KeyType::kAes128, master, uid_and_sysid));
//
// Thread-safe.
#ifndef DESFIRED_CORE_CRYPTO_AN10922_H_
#define DESFIRED_CORE_CRYPTO_AN10922_H_

#include "absl/status/statusor.h"
#include "core/crypto/cmac.h"
#include "core/crypto/key_cipher.h"
#include "core/crypto/key_type.h"
#include "core/util/bytes.h"

namespace desfired::crypto {

// INVALID_ARGUMENT for a master key of the wrong length, an empty M or one that is too long,
// or KeyType::kDes (AN10922 defines no single-DES diversification).
absl::StatusOr<Bytes> DiversifyKey(KeyType type, ByteSpan master_key, ByteSpan input);

// The same with a ready CMAC of the master key (no per-call key set-up); for hot paths.
// `out` must hold KeyLength(type) bytes; `type` must match master.cipher().type().
absl::Status DiversifyKeyWith(const Cmac& master, KeyType type, ByteSpan input, uint8_t* out);

// The same with the master behind a KeyCipher (a key in a PKCS#11 token: each part is one
// CMAC computed by the token, CmacManyVia). Slower than DiversifyKeyWith (two token calls per
// part); the diversified key is returned to the caller.
absl::Status DiversifyKeyVia(const KeyCipher& master, KeyType type, ByteSpan input, uint8_t* out);

// Batched: the keys of `count` inputs of `input_length` bytes each (input i starts at
// inputs[i]) into `out` (count * KeyLength(type) bytes; key i at i * KeyLength(type)), each
// equal to DiversifyKeyWith's. The diversification CMACs of all inputs run side by side
// (Cmac::ComputeMany), a few blocks per cipher call. Errors as DiversifyKeyWith, before any
// key is written.
absl::Status DiversifyKeysWith(const Cmac& master, KeyType type, const uint8_t* const* inputs,
                               size_t input_length, size_t count, uint8_t* out);

// The same batched with the master behind a KeyCipher (a key in a PKCS#11 token): the CMACs of
// all inputs through CmacManyVia, two ECB calls in the token per key part for any count (one
// per block position). The keys (out) are returned to the caller. Errors as DiversifyKeyVia;
// on a token error, `out` may hold parts: the caller wipes it.
absl::Status DiversifyKeysVia(const KeyCipher& master, KeyType type, const uint8_t* const* inputs,
                              size_t input_length, size_t count, uint8_t* out);

}  // namespace desfired::crypto

#endif  // DESFIRED_CORE_CRYPTO_AN10922_H_
