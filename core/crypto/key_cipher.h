// KeyCipher: the operations a DESFire host needs from a card key, wherever the key lives.
//
// A file key is a LocalKeyCipher (an in-memory BlockCipher, as fast as calling BlockCipher
// directly). A key in a PKCS#11 token is core/pkcs11's TokenKey: every operation runs inside
// the token (C_Encrypt / C_Decrypt) and the key value never reaches this process.
//
// The operations are ECB and CBC over whole blocks, and the CMAC built on them (CmacManyVia):
// enough for DESFire authentication (legacy, ISO, AES, EV2), the EV2 session-key CMACs and
// AN10922 diversification. Hot loops over a file key (tap MACs, secure messaging) keep using
// crypto::Cmac / BlockCipher directly: a session key is always on the host.
//
//   LocalKeyCipher key(*BlockCipher::Create(KeyType::kAes128, value));
//   uint8_t iv[16] = {};
//   DESFIRED_RETURN_IF_ERROR(key.CbcDecrypt(absl::MakeSpan(iv), absl::MakeSpan(block)));
//
// Errors: INVALID_ARGUMENT for lengths that are not whole blocks; a token key adds its own
// (UNAVAILABLE when the token cannot be reached, naming the key, never a value).
//
// Thread safety: a LocalKeyCipher is thread-compatible (see BlockCipher); a TokenKey is
// thread-safe.
#ifndef DESFIRED_CORE_CRYPTO_KEY_CIPHER_H_
#define DESFIRED_CORE_CRYPTO_KEY_CIPHER_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "core/crypto/block_cipher.h"
#include "core/crypto/key_type.h"
#include "core/util/bytes.h"

namespace desfired::crypto {

class KeyCipher {
 public:
  virtual ~KeyCipher() = default;

  virtual KeyType type() const = 0;
  size_t block_size() const { return BlockSize(type()); }

  // ECB over `count` blocks; `in` and `out` may be the same buffer.
  virtual absl::Status EncryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const = 0;
  virtual absl::Status DecryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const = 0;

  // CBC in place over whole blocks; `iv` (block_size() bytes) is read as the chaining value
  // and replaced by the last ciphertext block (as BlockCipher's).
  virtual absl::Status CbcEncrypt(MutableByteSpan iv, MutableByteSpan data) const = 0;
  virtual absl::Status CbcDecrypt(MutableByteSpan iv, MutableByteSpan data) const = 0;

  // E_K(0^b), the CMAC subkeys' source (block_size() bytes into `out`). A token key computes
  // it once and keeps it (it is the key's check value, not the key), saving one token call
  // per CMAC.
  virtual absl::Status EncryptedZeroBlock(uint8_t* out) const;
};

// A key in memory.
class LocalKeyCipher final : public KeyCipher {
 public:
  explicit LocalKeyCipher(BlockCipher cipher) : cipher_(std::move(cipher)) {}

  KeyType type() const override { return cipher_.type(); }
  absl::Status EncryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const override;
  absl::Status DecryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const override;
  absl::Status CbcEncrypt(MutableByteSpan iv, MutableByteSpan data) const override {
    return cipher_.CbcEncrypt(iv, data);
  }
  absl::Status CbcDecrypt(MutableByteSpan iv, MutableByteSpan data) const override {
    return cipher_.CbcDecrypt(iv, data);
  }

  const BlockCipher& cipher() const { return cipher_; }

 private:
  BlockCipher cipher_;
};

// The CMACs (NIST SP 800-38B) of `count` messages of `length` bytes each (message i at
// messages[i]) under `key` into `tags` (count * block_size() bytes), equal to
// Cmac::ComputeMany's: a message shorter than `min_blocks` blocks is padded (80 00..) to that
// many blocks and finished with K2, as AN10922 requires (min_blocks 2). The subkeys come from
// E_K(0) (EncryptedZeroBlock: kept by a token key), then one EncryptBlocks (ECB) call per block
// position over the chains of all messages: a token key makes ceil(length / block) token calls
// for any count (one message is the batch of one).
absl::Status CmacManyVia(const KeyCipher& key, const uint8_t* const* messages, size_t length,
                         size_t count, uint8_t* tags, size_t min_blocks = 1);

}  // namespace desfired::crypto

#endif  // DESFIRED_CORE_CRYPTO_KEY_CIPHER_H_
