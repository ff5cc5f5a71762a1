// BlockCipher: one key of AES-128 or the DES family, ready for block and CBC operations.
//
// The OpenSSL contexts are created once per key, so per-call cost is the cipher work only.
//
//   DESFIRED_ASSIGN_OR_RETURN(auto aes, BlockCipher::Create(KeyType::kAes128, key));
//   uint8_t iv[16] = {};
//   DESFIRED_RETURN_IF_ERROR(aes.CbcEncrypt(iv, data));  // in place; iv is updated
//
// Thread-compatible: a const BlockCipher may be used from one thread at a time only (the
// OpenSSL contexts it holds carry state). Copying is disabled; moving is allowed. Key bytes
// are wiped from memory when the object is destroyed.
#ifndef DESFIRED_CORE_CRYPTO_BLOCK_CIPHER_H_
#define DESFIRED_CORE_CRYPTO_BLOCK_CIPHER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "core/crypto/key_type.h"
#include "core/util/bytes.h"

namespace desfired::crypto {

class BlockCipher {
 public:
  // Returns INVALID_ARGUMENT when key.size() != KeyLength(type) (the message gives the
  // lengths, never the key), INTERNAL when OpenSSL fails.
  static absl::StatusOr<BlockCipher> Create(KeyType type, ByteSpan key);

  BlockCipher(BlockCipher&&) noexcept;
  BlockCipher& operator=(BlockCipher&&) noexcept;
  ~BlockCipher();

  KeyType type() const;
  size_t block_size() const;

  // One block (block_size() bytes). `in` and `out` may be the same buffer.
  void EncryptBlock(const uint8_t* in, uint8_t* out) const;
  void DecryptBlock(const uint8_t* in, uint8_t* out) const;
  // `count` independent blocks (ECB) in one OpenSSL call, so AES-NI pipelines them. `in` and
  // `out` may be the same buffer; count * block_size() must fit an int.
  void EncryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const;

  // CBC over `data` in place. data.size() must be a multiple of block_size() (else
  // INVALID_ARGUMENT). `iv` (block_size() bytes) is read as the chaining value and
  // replaced by the last ciphertext block, so consecutive calls continue one chain.
  absl::Status CbcEncrypt(MutableByteSpan iv, MutableByteSpan data) const;
  absl::Status CbcDecrypt(MutableByteSpan iv, MutableByteSpan data) const;

 private:
  struct State;
  explicit BlockCipher(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace desfired::crypto

#endif  // DESFIRED_CORE_CRYPTO_BLOCK_CIPHER_H_
