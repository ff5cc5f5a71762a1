#include "core/crypto/key_cipher.h"

#include <openssl/crypto.h>

#include "core/crypto/cmac.h"

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
