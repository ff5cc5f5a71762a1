// LrpMessaging: the keys and the encryption counter of an LRP secure-messaging session
// (AuthenticateLRPFirst; MF2DLHX0 / NT4H2421Gx "LRP mode", pm3 desfirecrypto.c, nfc-ev2-crypto
// lrp.py).
//
//   SesAuthMACKey  CMAC_LRP with UK0 of SesAuthMasterKey (session_keys.h)
//   SesAuthENCKey  LRICB with UK1 of SesAuthMasterKey, no padding inside LRICB (Encrypt adds
//                  80 00.. itself, always)
//   EncCtr         32 bits, one per 16-byte block, shared by commands and responses and never
//                  reset while the session lasts: the card's block in the second
//                  authentication answer uses 00000000, the first secure-messaging block
//                  00000001.
//
// The MAC message (Cmd ‖ CmdCtr ‖ TI ‖ header ‖ data, odd bytes kept) is assembled by the
// Session exactly as in EV2 mode; only the MAC function differs.
//
//   DESFIRED_ASSIGN_OR_RETURN(LrpMessaging lrp, LrpMessaging::Create(master, 1));
//   DESFIRED_RETURN_IF_ERROR(lrp.Encrypt(data));  // data ‖ 80 00.., enciphered, counter moves
//
// Errors: INVALID_ARGUMENT for a master key that is not 16 bytes; Decrypt: DATA_LOSS /
// INTEGRITY_ERROR for ciphertext that is not whole blocks; Encrypt and Decrypt:
// FAILED_PRECONDITION / NOT_AUTHENTICATED when EncCtr would wrap (authenticate again).
// Thread-compatible; key material is wiped on destruction (crypto::Lrp, crypto::LrpCmac).
#ifndef DESFIRED_CORE_DESFIRE_LRP_MESSAGING_H_
#define DESFIRED_CORE_DESFIRE_LRP_MESSAGING_H_

#include <array>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "core/crypto/lrp.h"
#include "core/util/bytes.h"

namespace desfired::desfire {

class LrpMessaging {
 public:
  static absl::StatusOr<LrpMessaging> Create(ByteSpan master_key, uint32_t enc_counter);

  // Full 16-byte CMAC_LRP of `message` under SesAuthMACKey.
  void Mac(ByteSpan message, uint8_t* out) const;

  // Pads `data` with 80 00.. to whole blocks and enciphers it in place.
  absl::Status Encrypt(Bytes& data);
  // Deciphers whole blocks in place (the caller strips the padding).
  absl::Status Decrypt(MutableByteSpan data);

  uint32_t enc_counter() const;

 private:
  // FAILED_PRECONDITION / NOT_AUTHENTICATED when `bytes` of blocks would take EncCtr past
  // FFFFFFFF (a counter value must never repeat under one key).
  absl::Status CheckCounter(size_t bytes) const;
  LrpMessaging(crypto::LrpCmac mac, crypto::Lrp enc, uint32_t enc_counter);
  crypto::LrpCmac mac_;
  crypto::Lrp enc_;
  std::array<uint8_t, 4> counter_;  // EncCtr, most significant byte first
  bool exhausted_ = false;          // EncCtr went past FFFFFFFF
};

// Strips ISO/IEC 9797-1 method 2 padding (80 00.., less than a block of it, always present)
// from a deciphered LRP or EV2 response; `expected`: the length the command fixes. DATA_LOSS /
// INTEGRITY_ERROR when the padding or the length is wrong.
absl::Status StripIsoPadding(Bytes& data, std::optional<size_t> expected);

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_LRP_MESSAGING_H_
