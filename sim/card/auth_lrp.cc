// CardAuthenticator in LRP mode: the card side of AuthenticateLRPFirst / NonFirst (auth.h).
// Written from the data sheets' description (MF2DLHX0 / NT4H2421Gx "LRP mode", as pm3
// desfirecore.c and nfc-ev2-crypto lrp.py apply it), on core/crypto/lrp.h only.
#include <algorithm>

#include "core/crypto/lrp.h"
#include "core/crypto/random.h"
#include "sim/card/auth.h"

namespace desfired::sim {
namespace {

constexpr uint8_t kAuthModeLrp = 0x01;
constexpr uint8_t kPcdCap2Lrp = 0x02;
constexpr size_t kCapLength = 6;
constexpr size_t kBlock = 16;  // RndA, RndB, E and the MACs
constexpr size_t kTi = 4;

// SV = 00 01 00 80 ‖ RndA[0..1] ‖ (RndA[2..7] ^ RndB[0..5]) ‖ RndB[6..15] ‖ RndA[8..15] ‖ 96 69
Bytes SessionVector(ByteSpan a, ByteSpan b) {
  Bytes sv = {0x00, 0x01, 0x00, 0x80, a[0], a[1]};
  for (size_t i = 2; i < 8; ++i) sv.push_back(static_cast<uint8_t>(a[i] ^ b[i - 2]));
  sv.insert(sv.end(), b.begin() + 6, b.end());
  sv.insert(sv.end(), a.begin() + 8, a.end());
  sv.push_back(0x96);
  sv.push_back(0x69);
  return sv;
}

}  // namespace

Sw CardAuthenticator::BeginLrp(Ins ins, const Key& key, uint8_t key_no, ByteSpan params,
                               const RandomSource& random, Bytes& reply) {
  if (key.type != crypto::KeyType::kAes128) return Sw::kAuthenticationError;
  if (ins == Ins::kAuthenticateEv2First) {
    // LenCap ‖ PCDcap2: an LRP card answers only a host that asks for LRP.
    if (params.size() < 2 || params[0] > kCapLength || params.size() != 1u + params[0]) {
      return Sw::kLengthError;
    }
    if ((params[1] & kPcdCap2Lrp) == 0) return Sw::kAuthenticationError;
    pcd_cap_.assign(kCapLength, 0);
    std::copy(params.begin() + 1, params.end(), pcd_cap_.begin());
  } else if (ins == Ins::kAuthenticateEv2NonFirst) {
    if (!params.empty()) return Sw::kLengthError;
  } else {
    return Sw::kAuthenticationError;  // the AES / DES authentications are off in LRP mode
  }
  rnd_b_.assign(kBlock, 0);
  random(MutableByteSpan(rnd_b_));
  reply = {kAuthModeLrp};
  reply.insert(reply.end(), rnd_b_.begin(), rnd_b_.end());
  return Pending(ins, key, key_no, /*lrp=*/true);
}

Sw CardAuthenticator::FinishLrp(ByteSpan token, SecureChannel& channel, const RandomSource& random,
                                Bytes& reply) {
  const bool first = *ins_ == Ins::kAuthenticateEv2First;
  auto fail = [&](Sw sw) { return Fail(sw, channel); };
  if (token.size() != 2 * kBlock) return fail(Sw::kLengthError);
  const ByteSpan rnd_a = token.subspan(0, kBlock);
  auto key_mac = crypto::LrpCmac::Create(key_.value);
  if (!key_mac.ok()) return fail(Sw::kAuthenticationError);
  uint8_t master[16];
  key_mac->Compute(SessionVector(rnd_a, rnd_b_), master);
  auto mac = crypto::LrpCmac::Create(ByteSpan(master, 16));
  auto enc = crypto::Lrp::Create(ByteSpan(master, 16), 1);
  if (!mac.ok() || !enc.ok()) {
    crypto::SecureWipe(MutableByteSpan(master, 16));
    return fail(Sw::kAuthenticationError);
  }
  uint8_t tag[kBlock];
  mac->Compute(Concat({rnd_a, rnd_b_}), tag);
  if (!crypto::ConstantTimeEquals(ByteSpan(tag, kBlock), token.subspan(kBlock))) {
    crypto::SecureWipe(MutableByteSpan(master, 16));
    return fail(Sw::kAuthenticationError);
  }
  absl::Status opened;
  if (first) {
    uint8_t ti[kTi];
    random(MutableByteSpan(ti, kTi));
    Bytes e(ti, ti + kTi);
    e.push_back(kPcdCap2Lrp);  // PDcap2: 02 (LRP) 00.., as an NTAG 424 DNA in LRP mode sends
    e.insert(e.end(), kCapLength - 1, 0);
    e.insert(e.end(), pcd_cap_.begin(), pcd_cap_.end());
    uint8_t counter[4] = {};
    opened = enc->LricbEncrypt(MutableByteSpan(counter, 4), 8, MutableByteSpan(e));
    mac->Compute(Concat({rnd_b_, rnd_a, e}), tag);
    reply = e;
    reply.insert(reply.end(), tag, tag + kBlock);
    // The card's block took EncCtr 0; secure messaging goes on from 1.
    if (opened.ok()) opened = channel.StartLrp(ByteSpan(master, 16), ByteSpan(ti, kTi), key_no_, 1);
  } else {
    mac->Compute(Concat({rnd_b_, rnd_a}), tag);
    reply.assign(tag, tag + kBlock);
    opened = channel.ContinueLrp(ByteSpan(master, 16), key_no_);
  }
  crypto::SecureWipe(MutableByteSpan(master, 16));
  return Opened(opened, channel);
}

}  // namespace desfired::sim
