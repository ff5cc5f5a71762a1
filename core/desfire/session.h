// Session: DESFire authentication and secure messaging over a Channel.
//
// One Session per selected application and card. It authenticates (legacy 0x0A, ISO 0x1A,
// AES 0xAA, EV2First 0x71), keeps the session keys and the IV / command counter, and
// protects every command and checks every response according to the communication mode:
//
//   scheme        command (plain / MAC / full)                 response (plain / MAC / full)
//   none          as is                                        as is
//   legacy 0A     as is / +MAC4 / D-send(data‖CRC16‖00..)      as is / MAC4 / D(data‖CRC16‖00..)
//   ISO/AES EV1   CMAC kept in IV / +CMAC8 / E(data‖CRC32‖00..) CMAC8 over data‖status always
//                 (CRC32 over INS‖header‖data)                  / E(data‖CRC32(data‖status)‖pad)
//   EV2 (71)      as is / +MACt / E(IVc; data‖80 00..)+MACt    as is / MACt / E(IVr)+MACt
//   LRP (71, 02)  as EV2 with CMAC_LRP for the MACs and LRICB (EncCtr) for E (lrp_messaging.h)
// (EV1: one IV register for the whole session; every command and response advances it.
//  EV2: TI and a 16-bit command counter; MACt = odd bytes of the CMAC.)
//
//   Channel channel(transport);
//   Session session(channel);
//   DESFIRED_RETURN_IF_ERROR(session.Authenticate(AuthScheme::kAes, 0, KeyType::kAes128, key));
//   DESFIRED_ASSIGN_OR_RETURN(Bytes data, session.Execute({
//       .ins = Ins::kReadData, .header = {file, 0, 0, 0, 32, 0, 0},
//       .response_mode = CommMode::kFull, .response_length = 32}));
//
// Errors (besides the Channel's, which include the DESFire status table's codes):
//   Authenticate: INVALID_ARGUMENT (key length / key type not allowed for the scheme),
//     PERMISSION_DENIED / AUTHENTICATION_FAILED (the card's RndA' does not match, or the card
//     answered 91 AE), INTERNAL / PROTOCOL_ERROR (wrong cryptogram lengths), INTERNAL (RNG).
//   Execute / ChangeKey: DATA_LOSS / INTEGRITY_ERROR when a response MAC is missing or wrong,
//     or a deciphered response has a bad CRC or padding (the session is dropped: never a
//     success), FAILED_PRECONDITION / NOT_AUTHENTICATED for MAC or full mode without a
//     session.
// Any error from the card also drops the session (the card forgets it too).
//
// Key material (card keys, session keys, RndA/RndB) is wiped when no longer needed and is
// never logged; the channel sees ciphertext only, and authentication frames are redacted.
//
// Thread-compatible: owned by the worker of one reader; `channel` must outlive the session.
#ifndef DESFIRED_CORE_DESFIRE_SESSION_H_
#define DESFIRED_CORE_DESFIRE_SESSION_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"
#include "core/crypto/key_cipher.h"
#include "core/crypto/key_type.h"
#include "core/desfire/card_types.h"
#include "core/desfire/channel.h"
#include "core/desfire/ins.h"
#include "core/desfire/lrp_messaging.h"
#include "core/util/bytes.h"

namespace desfired::desfire {

enum class AuthScheme {
  kNone,
  kLegacy,  // 0x0A, DES / 2K3DES
  kIso,     // 0x1A, DES / 2K3DES / 3K3DES
  kAes,     // 0xAA, AES-128, EV1 secure messaging
  kEv2,     // 0x71, AES-128, EV2 secure messaging
  kLrp,     // 0x71 with PCDcap2 02 (AuthenticateLRPFirst), AES-128 key, LRP secure messaging
};

// Fills the span with random bytes (RndA). The default is crypto::RandomBytes (OpenSSL).
using RandomSource = std::function<absl::Status(MutableByteSpan)>;

struct Command {
  Ins ins = Ins::kGetVersion;
  Bytes header = {};  // always sent in clear (file number, offsets, lengths, key number ...)
  Bytes data = {};    // protected according to command_mode
  CommMode command_mode = CommMode::kPlain;
  CommMode response_mode = CommMode::kPlain;
  // Full responses: the plaintext length when the command fixes it (ReadData with a
  // length, GetValue). Then EV1 padding must be 00..; without it the length is found from
  // the CRC and the padding (80 00.. as whole-file reads use, or 00..).
  std::optional<size_t> response_length = std::nullopt;
  // The command ends the session and the card answers without protection (DeleteApplication
  // of the selected application under its master key).
  bool ends_session = false;
};

class Session {
 public:
  explicit Session(Channel& channel, RandomSource random = nullptr);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Authenticates with key `key_no` (the byte as sent; at PICC level ChangeKey may carry
  // type bits in it). `type` must match the key: kLegacy takes kDes / k2Tdea; kIso kDes /
  // k2Tdea / k3Tdea; kAes and kEv2 kAes128. The session counts as authenticated only after
  // the card's RndA' is verified. `key` is not retained.
  absl::Status Authenticate(AuthScheme scheme, uint8_t key_no, crypto::KeyType type, ByteSpan key);
  // The same with the card key behind a KeyCipher (a key in a PKCS#11 token: E(RndB) is
  // decrypted and the answer encrypted inside the token; the session keys are derived on the
  // host). The key type is key.type(); a 2TDEA key is taken as two different halves (a DES
  // key stored as K ‖ K must say DES). Errors as above, and the cipher's.
  absl::Status Authenticate(AuthScheme scheme, uint8_t key_no, const crypto::KeyCipher& key);

  // AuthenticateEV2NonFirst (0x77): switches an EV2 session to key `key_no` (AES-128),
  // keeping the transaction identifier and the command counter. FAILED_PRECONDITION /
  // NOT_AUTHENTICATED without an EV2 session; on any failure the session ends.
  absl::Status AuthenticateEv2NonFirst(uint8_t key_no, ByteSpan key);
  absl::Status AuthenticateEv2NonFirst(uint8_t key_no, const crypto::KeyCipher& key);

  // AuthenticateLRPNonFirst (0x77 in an LRP session): the same for an LRP session; TI, the
  // command counter and EncCtr carry on (session_lrp.cc).
  absl::Status AuthenticateLrpNonFirst(uint8_t key_no, ByteSpan key);

  // Sends one command with the session's protection and returns the response data with
  // MACs, CRCs and padding removed. SelectApplication ends the session first (the card
  // forgets it too). Authentication, ChangeKey and 0xAF are refused (INVALID_ARGUMENT):
  // they have their own methods, and chaining belongs to the Channel.
  absl::StatusOr<Bytes> Execute(const Command& command);

  // ChangeKey (0xC4) under the current session. `key_no` is the byte sent (0x80 | n at PICC
  // level picks AES). `new_key` and `old_key`: 8 (DES, sent as K‖K), 16 or 24 bytes, or 16
  // for AES; for the DES family the key version lives in the parity bits of `new_key`,
  // for AES `aes_version` is sent. `old_key` is needed only when changing a key other than
  // the authenticated one. Changing the authenticated key ends the session.
  absl::Status ChangeKey(uint8_t key_no, crypto::KeyType new_type, ByteSpan new_key,
                         uint8_t aes_version, ByteSpan old_key);

  // Forgets the session (call after SelectApplication; done automatically on card errors).
  void Invalidate();

  // Data bytes per reply frame of the last Execute (before MACs were removed).
  const std::vector<size_t>& last_frame_sizes() const { return last_frame_sizes_; }

  bool authenticated() const { return scheme_ != AuthScheme::kNone; }
  AuthScheme scheme() const { return scheme_; }
  uint8_t authenticated_key_no() const { return key_no_; }
  // EV2 and LRP only: transaction identifier and command counter.
  ByteSpan transaction_id() const { return ByteSpan(ti_.data(), ti_.size()); }
  uint16_t command_counter() const { return cmd_ctr_; }

 private:
  // Tests set EV2 session keys from published vectors directly (tests/unit/core/desfire).
  friend class SessionTestPeer;

  absl::Status AuthenticateLegacy(uint8_t key_no, const crypto::KeyCipher& key);
  absl::Status AuthenticateIsoOrAes(AuthScheme scheme, uint8_t key_no,
                                    const crypto::KeyCipher& key);
  absl::Status AuthenticateEv2First(uint8_t key_no, const crypto::KeyCipher& key);
  // AuthenticateLRPFirst (first) or NonFirst (session_lrp.cc). LRP needs the key's value on
  // the host (its updated keys are secrets equivalent to it): no KeyCipher form.
  absl::Status AuthenticateLrp(bool first, uint8_t key_no, ByteSpan key);
  // Sets the EV2 session keys from RndA / RndB (TI and counter are set by the caller).
  absl::Status StartEv2Keys(const crypto::KeyCipher& key, ByteSpan rnd_a, ByteSpan rnd_b);
  absl::Status StartEv1Session(AuthScheme scheme, uint8_t key_no, crypto::KeyType type,
                               ByteSpan rnd_a, ByteSpan rnd_b);

  // Wire payload (header ‖ protected data) for a command.
  absl::StatusOr<Bytes> ProtectCommand(const Command& command);
  // Sends and unprotects. `ends_session`: ChangeKey of the authenticated key (no MAC back).
  absl::StatusOr<Bytes> SendAndCheck(const Command& command, ByteSpan payload, bool ends_session);
  absl::StatusOr<Bytes> CheckEv1Response(const Command& command, uint8_t status, Bytes data);
  absl::StatusOr<Bytes> CheckLegacyResponse(const Command& command, Bytes data);
  absl::StatusOr<Bytes> CheckEv2Response(const Command& command, uint8_t status, Bytes data);

  // EV1 / legacy helpers.
  absl::Status EncipherEv1(Bytes& plain);   // pads with 00, CBC with the IV register
  void EncipherLegacy(Bytes& plain) const;  // pads with 00, "decipher-send" mode
  Bytes LegacyMac(ByteSpan data) const;     // 4 bytes
  // EV2 helpers.
  Bytes Ev2Mac(uint8_t first, uint16_t counter, ByteSpan rest) const;  // 8 bytes
  std::array<uint8_t, 16> Ev2Iv(bool command, uint16_t counter) const;
  // Pads 80 00.. and enciphers with the command IV (EV2) or LRICB (LRP).
  absl::Status EncipherEv2(Bytes& plain);

  Channel& channel_;
  RandomSource random_;
  AuthScheme scheme_ = AuthScheme::kNone;
  uint8_t key_no_ = 0;
  crypto::KeyType session_type_ = crypto::KeyType::kAes128;
  std::optional<crypto::Cmac> cmac_;        // EV1: session key; EV2: SesAuthMACKey
  std::optional<crypto::BlockCipher> enc_;  // legacy: session key; EV2: SesAuthENCKey
  std::array<uint8_t, 16> iv_ = {};         // EV1 IV register (block_size bytes used)
  std::optional<LrpMessaging> lrp_;         // LRP: SesAuthMAC/ENCKey and EncCtr
  std::array<uint8_t, 4> ti_ = {};
  uint16_t cmd_ctr_ = 0;
  std::vector<size_t> last_frame_sizes_;
};

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_SESSION_H_
