// SecureChannel: the card side of DESFire secure messaging after an authentication.
//
// Three schemes, chosen by the authentication command that opened the session:
//   - kLegacy (0x0A): DES/2K3DES "native" messaging. No IV carried between messages (IV = 0
//     for every message); MAC = first 4 bytes of the last CBC block over the data; enciphered
//     data carries CRC16 (CRC-A) over the data only; host ciphertext is undone with the
//     encrypt primitive ("send mode").
//   - kEv1 (0x1A, 0xAA): one IV register for the whole session, advanced by a CMAC over every
//     command (even plain ones) and every response (data ‖ status); MAC = 8 bytes of CMAC;
//     enciphered data carries CRC32 (JAMCRC) over INS ‖ header ‖ data for commands and over
//     data ‖ status for responses, zero padding (80 00.. padding for whole-file reads).
//   - kEv2 (0x71, 0x77): transaction identifier TI and a 16-bit command counter; MACt = the
//     odd bytes of CMAC_SesAuthMAC(INS ‖ CmdCtr ‖ TI ‖ header ‖ data); enciphered data is
//     AES-CBC with IV = E(A5 5A ‖ TI ‖ CmdCtr ‖ 0^8) (responses 5A A5, counter + 1) and
//     80 00.. padding.
//   - kLrp (0x71 / 0x77 on a card in LRP mode): as kEv2, but the MACs are CMAC_LRP under
//     UK0 of SesAuthMasterKey and the data is LRICB-enciphered under its UK1 with a 32-bit
//     EncCtr that counts every 16-byte block of commands and responses alike (AN12304; the
//     card's block in the authentication answer takes 0, the session starts at 1).
//
// Commands say how they are protected with CmdProtection and RespProtection, named after
// what EV2 sends; the channel maps each to what the current scheme does (see the enums).
//
// Thread-compatible: one channel per card, used by the card's dispatcher only.
#ifndef DESFIRED_SIM_CARD_SECURE_CHANNEL_H_
#define DESFIRED_SIM_CARD_SECURE_CHANNEL_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"
#include "core/crypto/key_type.h"
#include "core/crypto/lrp.h"
#include "core/util/bytes.h"
#include "sim/card/protocol.h"

namespace desfired::sim {

enum class AuthScheme { kNone, kLegacy, kEv1, kEv2, kLrp };

// How the command's data after the cleartext header arrives.
enum class CmdProtection {
  kPlain,   // EV1: CMAC advances the IV; legacy and EV2: nothing
  kMacEv2,  // EV2: MACt appended; EV1: as kPlain; legacy: nothing
  kMac,     // MAC appended in every scheme
  kFull,    // enciphered in every scheme
  // Enciphered; legacy and EV1 put 80 00.. padding after the CRC instead of 00.. (a data
  // length only the plain text tells: SetConfiguration's ATS). EV2: as kFull.
  kFullPad80,
};

// How the response data leaves the card (only successful responses are protected).
enum class RespProtection {
  kPlain,      // EV1: CMAC appended; legacy and EV2: nothing
  kMacEv2,     // EV1 and EV2: MAC appended; legacy: nothing
  kMac,        // MAC appended in every scheme
  kFull,       // enciphered, zero padding in EV1 and legacy
  kFullPad80,  // enciphered, 80 00.. padding in EV1 (whole-file ReadData); legacy: 00..
               // unless set_legacy_pad80
  kFullNoPad,  // EV2/LRP: enciphered without padding when the data is whole blocks
               // (CommitReaderID's EncTMRI, AN12343 p. 64); other schemes: as kFull
};

class SecureChannel {
 public:
  SecureChannel() = default;
  SecureChannel(SecureChannel&&) = default;
  SecureChannel& operator=(SecureChannel&&) = default;

  // Opens a session. `key_no` is the key that authenticated. INVALID_ARGUMENT for a key
  // length that does not fit the type.
  absl::Status StartLegacy(crypto::KeyType type, ByteSpan session_key, uint8_t key_no);
  absl::Status StartEv1(crypto::KeyType type, ByteSpan session_key, uint8_t key_no);
  absl::Status StartEv2(ByteSpan enc_key, ByteSpan mac_key, ByteSpan ti, uint8_t key_no);
  // EV2NonFirst: new keys, same TI and command counter.
  absl::Status ContinueEv2(ByteSpan enc_key, ByteSpan mac_key, uint8_t key_no);
  // LRP: SesAuthMasterKey (the MAC and ENC keys are its UK0 / UK1 instances), TI, EncCtr
  // starting at `enc_counter`; ContinueLrp (LRPNonFirst) keeps TI, CmdCtr and EncCtr.
  absl::Status StartLrp(ByteSpan master_key, ByteSpan ti, uint8_t key_no, uint32_t enc_counter);
  absl::Status ContinueLrp(ByteSpan master_key, uint8_t key_no);
  // Drops the session (not authenticated afterwards).
  void Reset();

  AuthScheme scheme() const { return scheme_; }
  bool authenticated() const { return scheme_ != AuthScheme::kNone; }
  uint8_t key_no() const { return key_no_; }
  // Session-state accessors for tests.
  ByteSpan iv() const { return ByteSpan(iv_, block_size()); }
  uint16_t command_counter() const { return cmd_ctr_; }
  ByteSpan ti() const { return ByteSpan(ti_, 4); }
  // Cipher block size of the session (8 for the DES family, 16 for AES; 16 when none).
  size_t block_size() const { return cipher_ ? cipher_->block_size() : 16; }

  // Bytes on the wire after the header for `plain_len` bytes of data under `p`.
  size_t WireLength(CmdProtection p, size_t plain_len) const;

  // Checks and removes the protection of a command. `header` is the cleartext part after
  // INS that the MAC/CRC covers; `body` holds the rest and is replaced by the plain data.
  // For enciphered bodies `plain_len` is the data length when the command defines it;
  // `trailer_len` bytes after the CRC (ChangeKey's CRC of the new key) are kept and
  // returned after the data. Returns kOk, kIntegrityError (MAC/CRC/padding wrong) or
  // kLengthError (body too short or not whole blocks; EV2: deciphered data of another length
  // than `plain_len`).
  Sw UnwrapCommand(uint8_t ins, CmdProtection p, ByteSpan header, Bytes& body,
                   std::optional<size_t> plain_len = std::nullopt, size_t trailer_len = 0);

  // Protects a successful response (`status` kOk) and returns the data to send before
  // framing. In EV2 sessions it advances the command counter (call once per command).
  Bytes WrapResponse(RespProtection p, Sw status, Bytes data);

  // Legacy sessions: pad whole-file reads (RespProtection::kFullPad80) with 80 00.. after the
  // CRC16, as some cards do, instead of 00.. (the default). Survives Reset().
  void set_legacy_pad80(bool on) { legacy_pad80_ = on; }

  // The checksum ChangeKey appends for the new key when another key is changed: CRC16 in
  // legacy sessions, CRC32 otherwise.
  Bytes CrcOfKey(ByteSpan key) const;

 private:
  void Ev2Iv(bool response, uint8_t* iv) const;
  // EV2: CBC with the command / response IV; LRP: LRICB with EncCtr (advanced).
  absl::Status Ev2Cipher(bool response, bool encrypt, MutableByteSpan data);
  void Ev2Mac(ByteSpan msg, uint8_t* mact) const;
  void LegacyMac(ByteSpan data, uint8_t* mac4) const;

  AuthScheme scheme_ = AuthScheme::kNone;
  uint8_t key_no_ = 0;
  std::unique_ptr<crypto::BlockCipher> cipher_;  // session key (EV2: SesAuthENCKey)
  std::unique_ptr<crypto::Cmac> cmac_;           // session key (EV2: SesAuthMACKey)
  std::unique_ptr<crypto::LrpCmac> lrp_mac_;     // LRP: SesAuthMACKey
  std::unique_ptr<crypto::Lrp> lrp_enc_;         // LRP: SesAuthENCKey
  uint8_t enc_ctr_[4] = {};                      // LRP: EncCtr, most significant byte first
  uint8_t iv_[16] = {};
  uint8_t ti_[4] = {};
  uint16_t cmd_ctr_ = 0;
  bool legacy_pad80_ = false;
};

}  // namespace desfired::sim

#endif  // DESFIRED_SIM_CARD_SECURE_CHANNEL_H_
