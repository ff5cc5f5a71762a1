// Session: AuthenticateLRPFirst and AuthenticateLRPNonFirst (the LRP half of session.h).
//
// AuthenticateLRPFirst (pm3 desfirecore.c DesfireAuthenticateLRP; nfc-ev2-crypto
// test_lrp_auth.py; MF2DLHX0 / NT4H2421Gx "LRP mode"):
//   → 71 KeyNo 01 02               (LenCap 1, PCDcap2.1 = 02: LRP)
//   ← 01 ‖ RndB                     91 AF  (AuthMode 01 = LRP, RndB in plain)
//   → AF RndA ‖ CMAC_LRP(SesAuthMACKey; RndA ‖ RndB)
//   ← E ‖ CMAC_LRP(SesAuthMACKey; RndB ‖ RndA ‖ E)   91 00,
//     E = LRICBEnc(SesAuthENCKey, EncCtr 0)(TI ‖ PDcap2 ‖ PCDcap2)
// NonFirst sends 77 KeyNo only, and the last answer is the 16-byte MAC over RndB ‖ RndA: TI,
// the command counter and EncCtr carry on under the new keys.
#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"
#include "core/crypto/random.h"
#include "core/desfire/session.h"
#include "core/desfire/session_keys.h"
#include "core/desfire/status.h"
#include "core/util/status_macros.h"

namespace desfired::desfire {
namespace {

constexpr uint8_t kAuthModeLrp = 0x01;  // the card's first answer starts with it
constexpr size_t kBlock = 16;           // RndA, RndB, E and the MACs
constexpr size_t kTi = 4;

void WipeBytes(Bytes& b) {
  crypto::SecureWipe(absl::MakeSpan(b));
  b.clear();
}

}  // namespace

absl::Status Session::AuthenticateLrpNonFirst(uint8_t key_no, ByteSpan key) {
  if (scheme_ != AuthScheme::kLrp) {
    return apdu::WithReason(
        absl::FailedPreconditionError("AuthenticateLRPNonFirst needs an LRP session"),
        kReasonNotAuthenticated);
  }
  if (key.size() != 16) return absl::InvalidArgumentError("LRP keys are 16 bytes (AES-128)");
  return AuthenticateLrp(/*first=*/false, key_no, key);
}

absl::Status Session::AuthenticateLrp(bool first, uint8_t key_no, ByteSpan key) {
  const uint32_t carried_counter = lrp_.has_value() ? lrp_->enc_counter() : 0;
  Bytes rnd_a(kBlock);
  Bytes rnd_b;
  Bytes master;
  Bytes reply;
  absl::Status result = [&]() -> absl::Status {
    const TransceiveOptions options{.fetch_additional_frames = false, .redact = true};
    const uint8_t params[3] = {key_no, 0x01, 0x02};  // KeyNo, LenCap 1, PCDcap2.1 02: LRP
    const Ins ins = first ? Ins::kAuthenticateEv2First : Ins::kAuthenticateEv2NonFirst;
    DESFIRED_ASSIGN_OR_RETURN(NativeResponse answer,
                              channel_.Transceive(ins, ByteSpan(params, first ? 3 : 1), options));
    if (answer.status != ToByte(DesfireStatus::kAdditionalFrame) ||
        answer.data.size() != 1 + kBlock) {
      return apdu::ProtocolError(absl::StrFormat(
          "LRP authentication: expected AuthMode ‖ 16-byte RndB with 91 AF, got %d bytes, "
          "status %02X",
          answer.data.size(), answer.status));
    }
    if (answer.data[0] != kAuthModeLrp) {
      return apdu::ProtocolError(absl::StrFormat(
          "LRP authentication: the card answered AuthMode %02X, not 01 (LRP)", answer.data[0]));
    }
    rnd_b.assign(answer.data.begin() + 1, answer.data.end());
    WipeBytes(answer.data);
    DESFIRED_RETURN_IF_ERROR(random_(absl::MakeSpan(rnd_a)));
    DESFIRED_ASSIGN_OR_RETURN(master, DeriveLrpSessionMasterKey(key, rnd_a, rnd_b));
    // NonFirst: TI and CmdCtr stay; EncCtr goes on from where the previous keys left it.
    DESFIRED_ASSIGN_OR_RETURN(LrpMessaging keys,
                              LrpMessaging::Create(master, first ? 0 : carried_counter));
    Bytes token = Concat({rnd_a, rnd_b});
    uint8_t mac[kBlock];
    keys.Mac(token, mac);
    std::copy(mac, mac + kBlock, token.begin() + kBlock);  // RndA ‖ MAC
    absl::StatusOr<NativeResponse> second =
        channel_.Transceive(Ins::kAdditionalFrame, token, options);
    WipeBytes(token);
    if (!second.ok()) return second.status();
    reply = std::move(second->data);
    const size_t want = first ? 2 * kBlock : kBlock;
    if (reply.size() != want) {
      return apdu::ProtocolError(absl::StrFormat(
          "LRP authentication: expected a %d-byte answer, got %d", want, reply.size()));
    }
    ByteSpan enc = ByteSpan(reply).subspan(0, want - kBlock);
    Bytes signed_part = Concat({rnd_b, rnd_a, enc});
    keys.Mac(signed_part, mac);
    WipeBytes(signed_part);
    if (!crypto::ConstantTimeEquals(ByteSpan(mac, kBlock),
                                    ByteSpan(reply).subspan(want - kBlock))) {
      return AuthenticationFailedError("the card's LRP authentication MAC does not verify");
    }
    if (first) {
      Bytes plain(enc.begin(), enc.end());
      DESFIRED_RETURN_IF_ERROR(keys.Decrypt(absl::MakeSpan(plain)));  // EncCtr 0 → 1
      std::copy_n(plain.begin(), kTi, ti_.begin());
      WipeBytes(plain);
      cmd_ctr_ = 0;
    }
    lrp_.emplace(std::move(keys));
    return absl::OkStatus();
  }();
  WipeBytes(rnd_a);
  WipeBytes(rnd_b);
  WipeBytes(master);
  WipeBytes(reply);
  if (!result.ok()) {
    Invalidate();
    return result;
  }
  cmac_.reset();
  enc_.reset();
  session_type_ = crypto::KeyType::kAes128;
  key_no_ = key_no;
  scheme_ = AuthScheme::kLrp;
  return absl::OkStatus();
}

}  // namespace desfired::desfire
