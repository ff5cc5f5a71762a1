// Key versions of DES-family keys. A DESFire card keeps the version of a DES, 2TDEA or 3TDEA
// key in the key's parity bits: the least significant bit of each of its first 8 bytes, bit 7
// of the version in byte 0 ... bit 0 in byte 7. GetKeyVersion answers those bits, so the host
// writes the version into them when it sends the key (ChangeKey). DES ignores parity bits:
// authentication works with or without them. An AES key carries its version beside the key
// instead (ChangeKey sends it as an extra byte).
//
//   Bytes sent = desfire::WithKeyVersion(KeyType::k2Tdea, key, 9);  // bytes 0..7: LSBs 00001001
//   ...
//   crypto::SecureWipe(absl::MakeSpan(sent));
//
// Thread-safe: pure functions.
#ifndef DESFIRED_CORE_DESFIRE_KEY_VERSION_H_
#define DESFIRED_CORE_DESFIRE_KEY_VERSION_H_

#include <cstdint>

#include "core/crypto/key_type.h"
#include "core/util/bytes.h"

namespace desfired::desfire {

// `key` (of `type`) with `version` in its parity bits. A DES key, and a 2TDEA key whose halves
// are equal (which the card runs as single DES), get the bits in both halves, so that they stay
// single DES keys; the other bytes of 2TDEA and 3TDEA keys are unchanged. An AES key, or a key
// shorter than 8 bytes, is returned unchanged. The result holds key bytes: the caller wipes it.
Bytes WithKeyVersion(crypto::KeyType type, ByteSpan key, uint8_t version);

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_KEY_VERSION_H_
