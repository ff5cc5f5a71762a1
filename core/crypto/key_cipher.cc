#include "core/crypto/key_cipher.h"

#include <openssl/crypto.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/crypto/cmac.h"
#include "core/util/status_macros.h"

namespace desfired::crypto {

absl::Status LocalKeyCipher::EncryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const {
  cipher_.EncryptBlocks(in, out, count);
  return absl::OkStatus();
}

absl::Status LocalKeyCipher::DecryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const {
  const size_t bs = cipher_.block_size();
  for (size_t i = 0; i < count; ++i) cipher_.DecryptBlock(in + i * bs, out + i * bs);
  return absl::OkStatus();
}

absl::Status KeyCipher::EncryptedZeroBlock(uint8_t* out) const {
  uint8_t zero[16] = {};
  return EncryptBlocks(zero, out, 1);
}

absl::Status CmacVia(const KeyCipher& key, ByteSpan message, uint8_t* out, size_t min_blocks) {
  const size_t bs = key.block_size();
  // At most 4 KiB: CMACs over card keys are short (EV2 session vectors, AN10922 inputs).
  constexpr size_t kMaxMessage = 4096;
  if (message.size() > kMaxMessage) {
    return absl::InvalidArgumentError(
        absl::StrCat("CMAC through a key cipher takes at most ", kMaxMessage, " bytes"));
  }
  uint8_t subkeys[3][16] = {};  // L, K1, K2
  DESFIRED_RETURN_IF_ERROR(key.EncryptedZeroBlock(subkeys[0]));
  DoubleBlock(subkeys[0], subkeys[1], bs);
  DoubleBlock(subkeys[1], subkeys[2], bs);
  size_t blocks = (message.size() + bs - 1) / bs;
  if (blocks < min_blocks) blocks = min_blocks;
  if (blocks == 0) blocks = 1;
  uint8_t buffer[kMaxMessage + 32] = {};
  if (!message.empty()) std::memcpy(buffer, message.data(), message.size());
  const bool complete = message.size() == blocks * bs;
  if (!complete) buffer[message.size()] = 0x80;
  const uint8_t* subkey = complete ? subkeys[1] : subkeys[2];
  uint8_t* last = buffer + (blocks - 1) * bs;
  for (size_t i = 0; i < bs; ++i) last[i] ^= subkey[i];
  uint8_t iv[16] = {};
  absl::Status s = key.CbcEncrypt(MutableByteSpan(iv, bs), MutableByteSpan(buffer, blocks * bs));
  if (s.ok()) std::memcpy(out, last, bs);
  OPENSSL_cleanse(subkeys, sizeof(subkeys));
  OPENSSL_cleanse(buffer, blocks * bs);
  OPENSSL_cleanse(iv, sizeof(iv));
  return s;
}

absl::Status CmacManyVia(const KeyCipher& key, const uint8_t* const* messages, size_t length,
                         size_t count, uint8_t* tags, size_t min_blocks) {
  if (count == 0) return absl::OkStatus();
  const size_t bs = key.block_size();
  uint8_t subkeys[3][16] = {};  // L, K1, K2
  absl::Status s = key.EncryptedZeroBlock(subkeys[0]);
  if (s.ok()) {
    DoubleBlock(subkeys[0], subkeys[1], bs);
    DoubleBlock(subkeys[1], subkeys[2], bs);
    s = ComputeCmacChains(
        subkeys[1], subkeys[2], bs, messages, length, count, tags, min_blocks,
        [&key](uint8_t* blocks, size_t n) { return key.EncryptBlocks(blocks, blocks, n); });
  }
  OPENSSL_cleanse(subkeys, sizeof(subkeys));
  return s;
}

}  // namespace desfired::crypto
