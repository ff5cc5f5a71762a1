// CMAC (NIST SP 800-38B) over AES-128 and the DES family.
//
// Subkeys K1/K2 and the cipher context are computed once per key; Compute() allocates
// nothing, so it can run per tap record.
//
//   DESFIRED_ASSIGN_OR_RETURN(auto cmac, Cmac::Create(KeyType::kAes128, key));
//   uint8_t tag[16];
//   cmac.Compute(message, tag);
//
// Thread-compatible (see BlockCipher).
#ifndef DESFIRED_CORE_CRYPTO_CMAC_H_
#define DESFIRED_CORE_CRYPTO_CMAC_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "core/crypto/aes_schedule.h"
#include "core/crypto/block_cipher.h"
#include "core/crypto/key_type.h"
#include "core/util/bytes.h"

namespace desfired::crypto {

// Multiplication by x in GF(2^n), the CMAC subkey step (K1 = 2·L, K2 = 2·K1): `n` is 16
// (R = 0x87) or 8 (R = 0x1B). `out` may alias `in`. LRP-CMAC (lrp.h) derives its subkeys
// with it too.
void DoubleBlock(const uint8_t* in, uint8_t* out, size_t n);

// The CMAC chains of Cmac::ComputeMany for a cipher that is not in memory (a key in a
// PKCS#11 token: KeyCipher, CmacManyVia): `k1`, `k2` the subkeys (bs bytes each, bs 16 or 8)
// and `encrypt` ECB in place over `n` blocks. One `encrypt` call per block position over all
// `count` messages; tags as ComputeMany's. Stops at the first error of `encrypt`.
absl::Status ComputeCmacChains(const uint8_t* k1, const uint8_t* k2, size_t bs,
                               const uint8_t* const* messages, size_t length, size_t count,
                               uint8_t* tags, size_t min_blocks,
                               absl::FunctionRef<absl::Status(uint8_t* blocks, size_t n)> encrypt);

// The 8-byte MAC that DESFire EV2/EV3 secure messaging, SUN (SDMMAC) and EV2 tap records
// carry: the odd-numbered bytes (1, 3, .., 15) of a 16-byte CMAC `full`, into `out`.
inline void TruncateMacOddBytes(const uint8_t* full, uint8_t* out) {
  for (size_t i = 0; i < 8; ++i) out[i] = full[2 * i + 1];
}

class Cmac {
 public:
  // Errors as BlockCipher::Create.
  static absl::StatusOr<Cmac> Create(KeyType type, ByteSpan key);

  size_t block_size() const { return cipher_.block_size(); }

  // Full CMAC of `message` into `out` (block_size() bytes).
  void Compute(ByteSpan message, uint8_t* out) const;

  // CMAC whose CBC chain starts from `iv` (block_size() bytes) instead of zero, as DESFire
  // EV1 secure messaging uses it (the session IV register). Writes the full tag to `out`;
  // `out` may alias `iv`.
  void ComputeWithIv(const uint8_t* iv, ByteSpan message, uint8_t* out) const;

  // Batched CMAC: the tags of `count` messages of `length` bytes each (message i starts at
  // messages[i]) into tags (count * block_size() bytes; tag i at i * block_size()). The
  // chains are laid side by side and each block position is one ECB call over all of them, so
  // the cipher pipelines the independent blocks. With min_blocks 1 every tag equals
  // Compute()'s; a message shorter than `min_blocks` blocks is padded (80 00..) up to that
  // many blocks and finished with K2, as AN10922 requires (min_blocks 2).
  // count * block_size() must fit an int. Allocates nothing.
  void ComputeMany(const uint8_t* const* messages, size_t length, size_t count, uint8_t* tags,
                   size_t min_blocks = 1) const;

  // The subkeys, for tests against published values.
  ByteSpan k1() const { return ByteSpan(k1_, block_size()); }
  ByteSpan k2() const { return ByteSpan(k2_, block_size()); }

  // The cipher behind this CMAC (for callers that also encrypt with the same key).
  const BlockCipher& cipher() const { return cipher_; }

  Cmac(Cmac&&) noexcept;
  Cmac& operator=(Cmac&&) noexcept;
  ~Cmac();  // wipes the subkeys

 private:
  explicit Cmac(BlockCipher cipher);
  template <size_t kBs>
  void ComputeImpl(const uint8_t* iv, ByteSpan message, uint8_t* out) const;
  template <size_t kBs>
  void ComputeManyImpl(const uint8_t* const* messages, size_t length, size_t count, uint8_t* tags,
                       size_t min_blocks) const;
  BlockCipher cipher_;
  uint8_t k1_[16] = {};
  uint8_t k2_[16] = {};
};

// CMAC over AES-128 with the key schedule held in the object (aes_schedule.h) instead of an
// OpenSSL context: cheap to set up for a key used for a few messages (a SUN session key) and
// usable from several threads at once. Tags equal Cmac's.
//
// Thread-safe for const use. The schedule and subkeys are wiped on destruction.
class Aes128Cmac {
 public:
  explicit Aes128Cmac(const uint8_t* key);  // 16 bytes
  ~Aes128Cmac();
  Aes128Cmac(Aes128Cmac&& other) noexcept;
  Aes128Cmac& operator=(Aes128Cmac&&) = delete;

  void Compute(ByteSpan message, uint8_t* out) const;
  // As Cmac::ComputeMany (min_blocks 1).
  void ComputeMany(const uint8_t* const* messages, size_t length, size_t count,
                   uint8_t* tags) const;
  const Aes128Schedule& aes() const { return aes_; }

 private:
  Aes128Schedule aes_;
  uint8_t k1_[16] = {};
  uint8_t k2_[16] = {};
};

}  // namespace desfired::crypto

#endif  // DESFIRED_CORE_CRYPTO_CMAC_H_
