#include "core/desfire/session_keys.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "core/crypto/key_cipher.h"
#include "core/crypto/lrp.h"
#include "core/crypto/random.h"
#include "core/util/status_macros.h"

namespace desfired::desfire {
namespace {

// Appends bytes from..from+3 of RndA, then the same of RndB.
void AppendFourEach(Bytes& out, ByteSpan rnd_a, ByteSpan rnd_b, size_t from) {
  out.insert(out.end(), rnd_a.begin() + from, rnd_a.begin() + from + 4);
  out.insert(out.end(), rnd_b.begin() + from, rnd_b.begin() + from + 4);
}

// RndA[0..1] ‖ (RndA[2..7] ⊕ RndB[0..5]) ‖ RndB[6..15] ‖ RndA[8..15]: the 26 bytes both the
// EV2 and the LRP session vectors carry.
void MixRandoms(ByteSpan rnd_a, ByteSpan rnd_b, uint8_t* out) {
  out[0] = rnd_a[0];
  out[1] = rnd_a[1];
  for (size_t i = 0; i < 6; ++i) out[2 + i] = static_cast<uint8_t>(rnd_a[2 + i] ^ rnd_b[i]);
  for (size_t i = 0; i < 10; ++i) out[8 + i] = rnd_b[6 + i];
  for (size_t i = 0; i < 8; ++i) out[18 + i] = rnd_a[8 + i];
}

}  // namespace

size_t RandomLength(crypto::KeyType type) {
  switch (type) {
    case crypto::KeyType::kDes:
    case crypto::KeyType::k2Tdea:
      return 8;
    case crypto::KeyType::k3Tdea:
    case crypto::KeyType::kAes128:
      return 16;
  }
  return 16;
}

absl::StatusOr<Bytes> DeriveEv1SessionKey(crypto::KeyType type, ByteSpan rnd_a, ByteSpan rnd_b) {
  const size_t n = RandomLength(type);
  if (rnd_a.size() != n || rnd_b.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s session key needs %d-byte RndA and RndB, got %d and %d",
                        crypto::KeyTypeName(type), n, rnd_a.size(), rnd_b.size()));
  }
  Bytes key;
  key.reserve(crypto::KeyLength(type));
  AppendFourEach(key, rnd_a, rnd_b, 0);
  switch (type) {
    case crypto::KeyType::kDes:
      break;
    case crypto::KeyType::k2Tdea:
      AppendFourEach(key, rnd_a, rnd_b, 4);
      break;
    case crypto::KeyType::k3Tdea:
      AppendFourEach(key, rnd_a, rnd_b, 6);
      AppendFourEach(key, rnd_a, rnd_b, 12);
      break;
    case crypto::KeyType::kAes128:
      AppendFourEach(key, rnd_a, rnd_b, 12);
      break;
  }
  return key;
}

absl::StatusOr<Ev2SessionKeys> DeriveEv2SessionKeys(const crypto::KeyCipher& key, ByteSpan rnd_a,
                                                    ByteSpan rnd_b) {
  if (rnd_a.size() != 16 || rnd_b.size() != 16) {
    return absl::InvalidArgumentError("EV2 session keys need 16-byte RndA and RndB");
  }
  if (key.type() != crypto::KeyType::kAes128) {
    return absl::InvalidArgumentError("EV2 session keys need an AES-128 key");
  }
  // SV1 (enc) and SV2 (mac) differ in their first two bytes; both CMACs run side by side, one
  // ECB call per block position (two calls for a token key, not four).
  std::array<uint8_t, 32> sv[2] = {{0xA5, 0x5A, 0x00, 0x01, 0x00, 0x80},
                                   {0x5A, 0xA5, 0x00, 0x01, 0x00, 0x80}};
  MixRandoms(rnd_a, rnd_b, sv[0].data() + 6);
  std::copy(sv[0].begin() + 6, sv[0].end(), sv[1].begin() + 6);
  const uint8_t* messages[2] = {sv[0].data(), sv[1].data()};
  uint8_t tags[32];
  const absl::Status s = crypto::CmacManyVia(key, messages, 32, 2, tags);
  crypto::SecureWipe(absl::MakeSpan(sv[0]));
  crypto::SecureWipe(absl::MakeSpan(sv[1]));
  if (!s.ok()) {
    crypto::SecureWipe(absl::MakeSpan(tags));
    return s;
  }
  Ev2SessionKeys keys;
  keys.enc.assign(tags, tags + 16);
  keys.mac.assign(tags + 16, tags + 32);
  crypto::SecureWipe(absl::MakeSpan(tags));
  return keys;
}

absl::StatusOr<Ev2SessionKeys> DeriveEv2SessionKeys(ByteSpan key, ByteSpan rnd_a, ByteSpan rnd_b) {
  DESFIRED_ASSIGN_OR_RETURN(crypto::BlockCipher cipher,
                            crypto::BlockCipher::Create(crypto::KeyType::kAes128, key));
  return DeriveEv2SessionKeys(crypto::LocalKeyCipher(std::move(cipher)), rnd_a, rnd_b);
}

absl::StatusOr<Bytes> DeriveLrpSessionMasterKey(ByteSpan key, ByteSpan rnd_a, ByteSpan rnd_b) {
  if (rnd_a.size() != 16 || rnd_b.size() != 16) {
    return absl::InvalidArgumentError("LRP session keys need 16-byte RndA and RndB");
  }
  DESFIRED_ASSIGN_OR_RETURN(crypto::LrpCmac cmac, crypto::LrpCmac::Create(key));
  std::array<uint8_t, 32> sv = {0x00, 0x01, 0x00, 0x80};
  MixRandoms(rnd_a, rnd_b, sv.data() + 4);
  sv[30] = 0x96;
  sv[31] = 0x69;
  Bytes master(16);
  cmac.Compute(sv, master.data());
  crypto::SecureWipe(absl::MakeSpan(sv));
  return master;
}

Bytes RotateLeft(ByteSpan data) {
  Bytes out(data.begin(), data.end());
  if (!out.empty()) {
    out.erase(out.begin());
    out.push_back(data[0]);
  }
  return out;
}

}  // namespace desfired::desfire
