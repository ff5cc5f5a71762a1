// CardAuthenticator: the card side of the DESFire mutual authentications.
//
//   0x0A legacy (DES, 2K3DES): card sends E(RndB); host sends D(RndA) ‖ D(rol(RndB) ^ D(RndA))
//        ("send mode", IV 0); card answers E(rol(RndA)). Session key RndA[0..3] ‖ RndB[0..3]
//        (‖ RndA[4..7] ‖ RndB[4..7] for a true 2K3DES key).
//   0x1A ISO (DES, 2K3DES, 3K3DES) and 0xAA AES: one CBC chain across the exchange: card
//        sends E_CBC(IV 0)(RndB); host sends E_CBC(IV = last block)(RndA ‖ rol(RndB)); card
//        answers E_CBC(IV = last token block)(rol(RndA)).
//   0x71 EV2First / 0x77 EV2NonFirst (AES): every message CBC with IV 0; the card's second
//        reply is E(TI ‖ rol(RndA) ‖ PDcap2 ‖ PCDcap2) (EV2First) or E(rol(RndA)); session
//        keys are CMACs of the SV1/SV2 vectors.
//   LRP mode (set_lrp_mode; a real EV3 / NTAG 424 DNA is switched by SetConfiguration, for
//        good): with an AES key, 0x71 must ask for LRP (PCDcap2.1 = 02) and 0x77 continues an
//        LRP session; AES keys refuse every other authentication. DES-family keys (the
//        emulator's PICC master key) keep their own authentications. The card sends 01 ‖ RndB in
//        plain; the host sends RndA ‖ CMAC_LRP(RndA ‖ RndB); the card answers (LRPFirst) E ‖
//        CMAC_LRP(RndB ‖ RndA ‖ E) with E = LRICB(EncCtr 0)(TI ‖ PDcap2 ‖ PCDcap2), or
//        (NonFirst) CMAC_LRP(RndB ‖ RndA), all under SesAuthMasterKey = CMAC_LRP(K; 00 01 00
//        80 ‖ RndA/RndB mix ‖ 96 69) (auth_lrp.cc).
//
// On success the authenticator opens the SecureChannel it is given.
//
//   CardAuthenticator auth;
//   Bytes reply;
//   Sw sw = auth.Begin(Ins::kAuthenticateAes, key, /*key_no=*/0, {}, random, reply);  //
//   kAdditionalFrame sw = auth.Finish(token, channel, random, reply); // kOk
//
// Thread-compatible.
#ifndef DESFIRED_SIM_CARD_AUTH_H_
#define DESFIRED_SIM_CARD_AUTH_H_

#include <cstdint>
#include <functional>

#include "core/util/bytes.h"
#include "sim/card/model.h"
#include "sim/card/protocol.h"
#include "sim/card/secure_channel.h"

namespace desfired::sim {

// Fills its argument with random bytes. Tests inject a fixed sequence (RndB, then TI).
using RandomSource = std::function<void(MutableByteSpan)>;

// For benchmarks and tests only (desfire-sim --fixed-random): every draw is `pattern`
// repeated from its first byte, so RndB (and the EV2 TI, a random UID) is the same at every
// authentication and a recorded exchange can be replayed byte for byte. A card with this
// source protects nothing. `pattern` must not be empty.
RandomSource RepeatingRandom(Bytes pattern);

class CardAuthenticator {
 public:
  // First step. `params` are the bytes after the key number (EV2First: LenCap ‖ PCDcap2).
  // Returns kAdditionalFrame with E(RndB) in `reply`, or kAuthenticationError when the key's
  // type does not fit the command, kLengthError for malformed EV2 parameters.
  Sw Begin(Ins ins, const Key& key, uint8_t key_no, ByteSpan params, const RandomSource& random,
           Bytes& reply);

  // Second step with the host's token. Returns kOk and opens `channel` (its previous session
  // is replaced; EV2NonFirst keeps the TI and counter), or kAuthenticationError (wrong
  // RndB', the channel is reset) or kLengthError.
  Sw Finish(ByteSpan token, SecureChannel& channel, const RandomSource& random, Bytes& reply);

  bool pending() const { return ins_.has_value(); }
  void set_lrp_mode(bool on) { lrp_mode_ = on; }
  bool lrp_mode() const { return lrp_mode_; }
  void Cancel();

 private:
  Sw BeginLrp(Ins ins, const Key& key, uint8_t key_no, ByteSpan params, const RandomSource& random,
              Bytes& reply);
  Sw FinishLrp(ByteSpan token, SecureChannel& channel, const RandomSource& random, Bytes& reply);
  // Ends the exchange: `sw` with the channel reset (Fail), or kOk when `opened` is OK, else
  // kAuthenticationError with the channel reset (Opened).
  Sw Fail(Sw sw, SecureChannel& channel);
  // Records the exchange under way after the first step; kAdditionalFrame.
  Sw Pending(Ins ins, const Key& key, uint8_t key_no, bool lrp);
  Sw Opened(const absl::Status& opened, SecureChannel& channel);

  bool lrp_mode_ = false;
  bool lrp_pending_ = false;  // the exchange under way is an LRP one
  std::optional<Ins> ins_;
  Key key_;
  uint8_t key_no_ = 0;
  Bytes rnd_b_;
  Bytes iv_;       // ISO/AES: the CBC chaining value after E(RndB)
  Bytes pcd_cap_;  // EV2First: the host's PCDcap2, echoed (6 bytes)
};

}  // namespace desfired::sim

#endif  // DESFIRED_SIM_CARD_AUTH_H_
