#include "sim/card/tmac_crypto.h"

#include <array>

#include "core/crypto/block_cipher.h"
#include "core/crypto/cmac.h"

namespace desfired::sim {
namespace {

constexpr size_t kAesBlock = 16;

// CMAC-AES of `msg` under `key`; empty for a key that is not AES-128.
Bytes AesCmacOf(ByteSpan key, ByteSpan msg) {
  auto cmac = crypto::Cmac::Create(crypto::KeyType::kAes128, key);
  if (!cmac.ok() || key.size() != kAesBlock) return {};
  Bytes tag(kAesBlock);
  cmac->Compute(msg, tag.data());
  return tag;
}

}  // namespace

TmacCardKeys TmacCardKeys::For(ByteSpan tmac_key, uint32_t tmc, ByteSpan uid) {
  if (uid.size() != 7) return {};
  std::array<uint8_t, kAesBlock> sv = {0x5A, 0x00, 0x01, 0x00, 0x80};
  StoreLe32(tmc + 1, sv.data() + 5);
  std::copy(uid.begin(), uid.end(), sv.begin() + 9);
  TmacCardKeys keys;
  keys.ses_mac = AesCmacOf(tmac_key, sv);
  sv[0] = 0xA5;
  keys.ses_enc = AesCmacOf(tmac_key, sv);
  return keys;
}

Bytes TmacCardKeys::Tmv(ByteSpan tmi) const {
  const Bytes tag = AesCmacOf(ses_mac, tmi);
  Bytes tmv;
  for (size_t i = 1; i < tag.size(); i += 2) tmv.push_back(tag[i]);
  return tmv;
}

Bytes TmacCardKeys::EncryptReaderId(ByteSpan tmri) const {
  auto aes = crypto::BlockCipher::Create(crypto::KeyType::kAes128, ses_enc);
  if (!aes.ok() || tmri.size() != kAesBlock) return {};
  Bytes out(kAesBlock);
  aes->EncryptBlock(tmri.data(), out.data());
  return out;
}

void AddToTmi(ByteSpan part, Bytes& tmi) {
  tmi.insert(tmi.end(), part.begin(), part.end());
  while (tmi.size() % kAesBlock != 0) tmi.push_back(0);
}

}  // namespace desfired::sim
