#include "sim/card/auth.h"

#include <algorithm>
#include <cstring>

#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"
#include "core/crypto/random.h"

namespace desfired::sim {
namespace {

using crypto::BlockCipher;
using crypto::KeyType;

constexpr size_t kEv2CapLength = 6;
constexpr size_t kTiLength = 4;
constexpr uint8_t kSv1Label[2] = {0xA5, 0x5A};
constexpr uint8_t kSv2Label[2] = {0x5A, 0xA5};
constexpr uint8_t kSvConstant[4] = {0x00, 0x01, 0x00, 0x80};

bool IsDesFamily(KeyType t) { return t == KeyType::kDes || t == KeyType::k2Tdea; }

// A 16-byte DES-family key whose halves are equal acts as single DES.
bool ActsAsSingleDes(const Key& key) {
  if (key.type == KeyType::kDes) return true;
  return key.type == KeyType::k2Tdea && key.value.size() == 16 &&
         std::equal(key.value.begin(), key.value.begin() + 8, key.value.begin() + 8);
}

size_t RandomLength(const Key& key) {
  return key.type == KeyType::kAes128 || key.type == KeyType::k3Tdea ? 16 : 8;
}

Bytes RotateLeft(ByteSpan in) {
  Bytes out(in.begin() + 1, in.end());
  out.push_back(in[0]);
  return out;
}

void Append(Bytes& out, ByteSpan in, size_t from, size_t to) {
  out.insert(out.end(), in.begin() + static_cast<ptrdiff_t>(from),
             in.begin() + static_cast<ptrdiff_t>(to));
}

struct SessionKey {
  KeyType type;
  Bytes value;
};

SessionKey Ev1SessionKey(const Key& key, ByteSpan a, ByteSpan b) {
  SessionKey k;
  Append(k.value, a, 0, 4);
  Append(k.value, b, 0, 4);
  if (key.type == KeyType::kAes128) {
    k.type = KeyType::kAes128;
    Append(k.value, a, 12, 16);
    Append(k.value, b, 12, 16);
  } else if (key.type == KeyType::k3Tdea) {
    k.type = KeyType::k3Tdea;
    Append(k.value, a, 6, 10);
    Append(k.value, b, 6, 10);
    Append(k.value, a, 12, 16);
    Append(k.value, b, 12, 16);
  } else if (ActsAsSingleDes(key)) {
    k.type = KeyType::kDes;
  } else {
    k.type = KeyType::k2Tdea;
    Append(k.value, a, 4, 8);
    Append(k.value, b, 4, 8);
  }
  return k;
}

Bytes Ev2Sv(const uint8_t label[2], ByteSpan a, ByteSpan b) {
  Bytes sv = {label[0], label[1]};
  sv.insert(sv.end(), kSvConstant, kSvConstant + 4);
  Append(sv, a, 0, 2);
  for (size_t i = 0; i < 6; ++i) sv.push_back(static_cast<uint8_t>(a[2 + i] ^ b[i]));
  Append(sv, b, 6, 16);
  Append(sv, a, 8, 16);
  return sv;
}

}  // namespace

RandomSource RepeatingRandom(Bytes pattern) {
  if (pattern.empty()) pattern.push_back(0);  // never a division by zero below
  return [pattern = std::move(pattern)](MutableByteSpan out) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = pattern[i % pattern.size()];
  };
}

void CardAuthenticator::Cancel() {
  ins_.reset();
  lrp_pending_ = false;
  crypto::SecureWipe(MutableByteSpan(rnd_b_));
  rnd_b_.clear();
  iv_.clear();
}

Sw CardAuthenticator::Begin(Ins ins, const Key& key, uint8_t key_no, ByteSpan params,
                            const RandomSource& random, Bytes& reply) {
  Cancel();
  if (lrp_mode_ && key.type == KeyType::kAes128) {
    return BeginLrp(ins, key, key_no, params, random, reply);
  }
  switch (ins) {
    case Ins::kAuthenticateLegacy:
      if (!IsDesFamily(key.type)) return Sw::kAuthenticationError;
      break;
    case Ins::kAuthenticateIso:
      if (key.type == KeyType::kAes128) return Sw::kAuthenticationError;
      break;
    case Ins::kAuthenticateAes:
    case Ins::kAuthenticateEv2NonFirst:
      if (key.type != KeyType::kAes128) return Sw::kAuthenticationError;
      break;
    case Ins::kAuthenticateEv2First:
      if (key.type != KeyType::kAes128) return Sw::kAuthenticationError;
      // LenCap ‖ PCDcap2[LenCap]
      if (params.empty() || params[0] > kEv2CapLength || params.size() != 1u + params[0]) {
        return Sw::kLengthError;
      }
      pcd_cap_.assign(kEv2CapLength, 0);
      std::copy(params.begin() + 1, params.end(), pcd_cap_.begin());
      break;
    default:
      return Sw::kIllegalCommand;
  }
  if (ins != Ins::kAuthenticateEv2First && !params.empty()) return Sw::kLengthError;

  auto cipher = BlockCipher::Create(key.type, key.value);
  if (!cipher.ok()) return Sw::kAuthenticationError;
  rnd_b_.assign(RandomLength(key), 0);
  random(MutableByteSpan(rnd_b_));
  reply = rnd_b_;
  const size_t bs = cipher->block_size();
  Bytes iv(bs, 0);
  if (ins == Ins::kAuthenticateLegacy) {
    cipher->EncryptBlock(reply.data(), reply.data());
  } else {
    (void)cipher->CbcEncrypt(MutableByteSpan(iv), MutableByteSpan(reply));
  }
  iv_ = std::move(iv);
  return Pending(ins, key, key_no, /*lrp=*/false);
}

Sw CardAuthenticator::Pending(Ins ins, const Key& key, uint8_t key_no, bool lrp) {
  ins_ = ins;
  lrp_pending_ = lrp;
  key_ = key;
  key_no_ = key_no;
  return Sw::kAdditionalFrame;
}

Sw CardAuthenticator::Finish(ByteSpan token, SecureChannel& channel, const RandomSource& random,
                             Bytes& reply) {
  if (!ins_) return Sw::kIllegalCommand;
  if (lrp_pending_) return FinishLrp(token, channel, random, reply);
  const Ins ins = *ins_;
  const size_t n = rnd_b_.size();
  auto fail = [&](Sw sw) { return Fail(sw, channel); };
  if (token.size() != 2 * n) return fail(Sw::kLengthError);
  auto cipher = BlockCipher::Create(key_.type, key_.value);
  if (!cipher.ok()) return fail(Sw::kAuthenticationError);
  const size_t bs = cipher->block_size();

  Bytes plain(token.begin(), token.end());
  Bytes iv = iv_;
  if (ins == Ins::kAuthenticateLegacy) {
    // Undo the host's send mode: x_i = E(y_i) ^ y_{i-1}.
    Bytes prev(bs, 0);
    for (size_t off = 0; off < plain.size(); off += bs) {
      uint8_t block[16];
      cipher->EncryptBlock(token.data() + off, block);
      for (size_t i = 0; i < bs; ++i) plain[off + i] = block[i] ^ prev[i];
      std::memcpy(prev.data(), token.data() + off, bs);
    }
  } else {
    if (ins == Ins::kAuthenticateEv2First || ins == Ins::kAuthenticateEv2NonFirst) {
      std::fill(iv.begin(), iv.end(), 0);
    }
    (void)cipher->CbcDecrypt(MutableByteSpan(iv), MutableByteSpan(plain));
  }
  const ByteSpan rnd_a(plain.data(), n);
  const Bytes expected_b = RotateLeft(rnd_b_);
  if (!crypto::ConstantTimeEquals(ByteSpan(plain.data() + n, n), expected_b)) {
    return fail(Sw::kAuthenticationError);
  }
  Bytes rnd_a_rot = RotateLeft(rnd_a);

  absl::Status opened;
  switch (ins) {
    case Ins::kAuthenticateLegacy: {
      reply = rnd_a_rot;
      cipher->EncryptBlock(reply.data(), reply.data());
      const SessionKey sk = Ev1SessionKey(key_, rnd_a, rnd_b_);
      opened = channel.StartLegacy(sk.type, sk.value, key_no_);
      break;
    }
    case Ins::kAuthenticateIso:
    case Ins::kAuthenticateAes: {
      reply = rnd_a_rot;
      (void)cipher->CbcEncrypt(MutableByteSpan(iv), MutableByteSpan(reply));
      const SessionKey sk = Ev1SessionKey(key_, rnd_a, rnd_b_);
      opened = channel.StartEv1(sk.type, sk.value, key_no_);
      break;
    }
    case Ins::kAuthenticateEv2First:
    case Ins::kAuthenticateEv2NonFirst: {
      auto cmac = crypto::Cmac::Create(KeyType::kAes128, key_.value);
      if (!cmac.ok()) return fail(Sw::kAuthenticationError);
      uint8_t enc_key[16], mac_key[16];
      cmac->Compute(Ev2Sv(kSv1Label, rnd_a, rnd_b_), enc_key);
      cmac->Compute(Ev2Sv(kSv2Label, rnd_a, rnd_b_), mac_key);
      const bool first = ins == Ins::kAuthenticateEv2First;
      if (first) {
        uint8_t ti[kTiLength];
        random(MutableByteSpan(ti, kTiLength));
        reply.assign(ti, ti + kTiLength);
        reply.insert(reply.end(), rnd_a_rot.begin(), rnd_a_rot.end());
        reply.insert(reply.end(), kEv2CapLength, 0);  // PDcap2
        reply.insert(reply.end(), pcd_cap_.begin(), pcd_cap_.end());
        opened = channel.StartEv2(ByteSpan(enc_key, 16), ByteSpan(mac_key, 16),
                                  ByteSpan(ti, kTiLength), key_no_);
      } else {
        reply = rnd_a_rot;
        opened = channel.ContinueEv2(ByteSpan(enc_key, 16), ByteSpan(mac_key, 16), key_no_);
      }
      std::fill(iv.begin(), iv.end(), 0);
      (void)cipher->CbcEncrypt(MutableByteSpan(iv), MutableByteSpan(reply));
      crypto::SecureWipe(MutableByteSpan(enc_key, 16));
      crypto::SecureWipe(MutableByteSpan(mac_key, 16));
      break;
    }
    default:
      return fail(Sw::kIllegalCommand);
  }
  crypto::SecureWipe(MutableByteSpan(plain));
  return Opened(opened, channel);
}

Sw CardAuthenticator::Fail(Sw sw, SecureChannel& channel) {
  Cancel();
  channel.Reset();
  return sw;
}

Sw CardAuthenticator::Opened(const absl::Status& opened, SecureChannel& channel) {
  Cancel();
  if (!opened.ok()) {
    channel.Reset();
    return Sw::kAuthenticationError;
  }
  return Sw::kOk;
}

}  // namespace desfired::sim
