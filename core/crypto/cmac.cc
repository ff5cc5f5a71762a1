#include "core/crypto/cmac.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

#include "core/util/status_macros.h"

namespace desfired::crypto {
namespace {

constexpr uint8_t kZeroIv[16] = {};

}  // namespace

// Multiplication by x in GF(2^n) (SP 800-38B §6.1): shift the block left one bit and, if a
// bit fell off, fold it back with R_128 = 0x87 or R_64 = 0x1B. Branch-free on the key bit.
void DoubleBlock(const uint8_t* in, uint8_t* out, size_t n) {
  const uint8_t carry = static_cast<uint8_t>(in[0] >> 7);
  for (size_t i = 0; i + 1 < n; ++i) {
    out[i] = static_cast<uint8_t>(in[i] << 1 | in[i + 1] >> 7);
  }
  const uint8_t rb = n == 16 ? 0x87 : 0x1B;
  out[n - 1] = static_cast<uint8_t>(in[n - 1] << 1 ^ (rb & (0 - carry)));
}

Cmac::Cmac(BlockCipher cipher) : cipher_(std::move(cipher)) {
  const size_t bs = cipher_.block_size();
  uint8_t l[16] = {};
  cipher_.EncryptBlock(l, l);  // L = E_K(0^b)
  DoubleBlock(l, k1_, bs);
  DoubleBlock(k1_, k2_, bs);
  OPENSSL_cleanse(l, sizeof(l));
}

absl::StatusOr<Cmac> Cmac::Create(KeyType type, ByteSpan key) {
  DESFIRED_ASSIGN_OR_RETURN(BlockCipher cipher, BlockCipher::Create(type, key));
  return Cmac(std::move(cipher));
}

Cmac::Cmac(Cmac&& other) noexcept : cipher_(std::move(other.cipher_)) {
  std::memcpy(k1_, other.k1_, sizeof(k1_));
  std::memcpy(k2_, other.k2_, sizeof(k2_));
  OPENSSL_cleanse(other.k1_, sizeof(other.k1_));
  OPENSSL_cleanse(other.k2_, sizeof(other.k2_));
}

Cmac& Cmac::operator=(Cmac&& other) noexcept {
  if (this != &other) {
    cipher_ = std::move(other.cipher_);
    std::memcpy(k1_, other.k1_, sizeof(k1_));
    std::memcpy(k2_, other.k2_, sizeof(k2_));
    OPENSSL_cleanse(other.k1_, sizeof(other.k1_));
    OPENSSL_cleanse(other.k2_, sizeof(other.k2_));
  }
  return *this;
}

Cmac::~Cmac() {
  OPENSSL_cleanse(k1_, sizeof(k1_));
  OPENSSL_cleanse(k2_, sizeof(k2_));
}

void Cmac::Compute(ByteSpan message, uint8_t* out) const { ComputeWithIv(kZeroIv, message, out); }

namespace {

// CBC-MAC with the CMAC finish (SP 800-38B) over any block function `encrypt(in, out)`. The
// block size is a template argument so the XOR loops compile to fixed-width code.
template <size_t kBs, typename Encrypt>
void CmacChain(const Encrypt& encrypt, const uint8_t* k1, const uint8_t* k2, const uint8_t* iv,
               ByteSpan message, uint8_t* out) {
  uint8_t x[kBs];
  std::memcpy(x, iv, kBs);  // copied first, so `out` may alias `iv`
  const uint8_t* p = message.data();
  size_t left = message.size();
  // Every block but the last one: plain CBC.
  while (left > kBs) {
    for (size_t i = 0; i < kBs; ++i) x[i] ^= p[i];
    encrypt(x, x);
    p += kBs;
    left -= kBs;
  }
  // Last block: complete -> XOR K1; partial or empty -> pad with 80 00.. and XOR K2.
  if (left == kBs) {
    for (size_t i = 0; i < kBs; ++i) x[i] ^= p[i] ^ k1[i];
  } else {
    uint8_t last[kBs] = {};
    if (left > 0) std::memcpy(last, p, left);  // `p` may be null when the message is empty
    last[left] = 0x80;
    for (size_t i = 0; i < kBs; ++i) x[i] ^= last[i] ^ k2[i];
  }
  encrypt(x, out);
  OPENSSL_cleanse(x, sizeof(x));
}

}  // namespace

// CBC-MAC over the ECB context, one EVP call per block: for short messages this is far
// cheaper than resetting the IV of an EVP CBC context on every call (~45 vs ~160 ns for a
// 19-byte AES message on OpenSSL 3.0).
template <size_t kBs>
void Cmac::ComputeImpl(const uint8_t* iv, ByteSpan message, uint8_t* out) const {
  CmacChain<kBs>([this](const uint8_t* in, uint8_t* o) { cipher_.EncryptBlock(in, o); }, k1_, k2_,
                 iv, message, out);
}

void Cmac::ComputeWithIv(const uint8_t* iv, ByteSpan message, uint8_t* out) const {
  if (block_size() == 16) {
    ComputeImpl<16>(iv, message, out);
  } else {
    ComputeImpl<8>(iv, message, out);
  }
}

namespace {

// The chains of all messages side by side in `tags`: for each block position, XOR that block
// of every message into its chain, then one ECB call (`encrypt`) encrypts all chains.
template <size_t kBs, typename Encrypt>
absl::Status ChainMany(const uint8_t* k1, const uint8_t* k2, const uint8_t* const* messages,
                       size_t length, size_t count, uint8_t* tags, size_t min_blocks,
                       Encrypt&& encrypt) {
  size_t blocks = (length + kBs - 1) / kBs;
  if (blocks < min_blocks) blocks = min_blocks;
  if (blocks == 0) blocks = 1;
  const bool complete = length == blocks * kBs;  // else padded at byte `length`, K2
  const uint8_t* subkey = complete ? k1 : k2;
  for (size_t b = 0; b < blocks; ++b) {
    const size_t off = b * kBs;
    const size_t take = length > off ? std::min(kBs, length - off) : 0;
    const bool pad_here = !complete && length >= off && length < off + kBs;
    const bool last = b + 1 == blocks;
    for (size_t m = 0; m < count; ++m) {
      uint8_t block[kBs];  // this block of message m, padded, with the subkey when last
      const uint8_t* p = messages[m] + off;
      if (take == kBs) {
        std::memcpy(block, p, kBs);
      } else {
        for (size_t i = 0; i < kBs; ++i) block[i] = i < take ? p[i] : 0;
        if (pad_here) block[take] = 0x80;
      }
      if (last) {
        for (size_t i = 0; i < kBs; ++i) block[i] ^= subkey[i];
      }
      uint8_t* x = tags + m * kBs;
      if (b == 0) {
        std::memcpy(x, block, kBs);
      } else {
        for (size_t i = 0; i < kBs; ++i) x[i] ^= block[i];
      }
    }
    if (absl::Status s = encrypt(tags, count); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

template <size_t kBs>
void Cmac::ComputeManyImpl(const uint8_t* const* messages, size_t length, size_t count,
                           uint8_t* tags, size_t min_blocks) const {
  ChainMany<kBs>(k1_, k2_, messages, length, count, tags, min_blocks,
                 [this](uint8_t* blocks, size_t n) {
                   cipher_.EncryptBlocks(blocks, blocks, n);
                   return absl::OkStatus();
                 })
      .IgnoreError();  // in-memory encryption does not fail
}

absl::Status ComputeCmacChains(const uint8_t* k1, const uint8_t* k2, size_t bs,
                               const uint8_t* const* messages, size_t length, size_t count,
                               uint8_t* tags, size_t min_blocks,
                               absl::FunctionRef<absl::Status(uint8_t* blocks, size_t n)> encrypt) {
  if (count == 0) return absl::OkStatus();
  if (bs == 16) return ChainMany<16>(k1, k2, messages, length, count, tags, min_blocks, encrypt);
  if (bs == 8) return ChainMany<8>(k1, k2, messages, length, count, tags, min_blocks, encrypt);
  return absl::InvalidArgumentError("CMAC block size must be 16 or 8");
}

void Cmac::ComputeMany(const uint8_t* const* messages, size_t length, size_t count, uint8_t* tags,
                       size_t min_blocks) const {
  if (count == 0) return;
  if (block_size() == 16) {
    ComputeManyImpl<16>(messages, length, count, tags, min_blocks);
  } else {
    ComputeManyImpl<8>(messages, length, count, tags, min_blocks);
  }
}

Aes128Cmac::Aes128Cmac(const uint8_t* key) : aes_(key) {
  uint8_t l[16] = {};
  aes_.Encrypt(l, l);  // L = E_K(0^128)
  DoubleBlock(l, k1_, 16);
  DoubleBlock(k1_, k2_, 16);
  OPENSSL_cleanse(l, sizeof(l));
}

Aes128Cmac::Aes128Cmac(Aes128Cmac&& other) noexcept : aes_(std::move(other.aes_)) {
  std::memcpy(k1_, other.k1_, sizeof(k1_));
  std::memcpy(k2_, other.k2_, sizeof(k2_));
  OPENSSL_cleanse(other.k1_, sizeof(other.k1_));
  OPENSSL_cleanse(other.k2_, sizeof(other.k2_));
}

Aes128Cmac::~Aes128Cmac() {
  OPENSSL_cleanse(k1_, sizeof(k1_));
  OPENSSL_cleanse(k2_, sizeof(k2_));
}

void Aes128Cmac::Compute(ByteSpan message, uint8_t* out) const {
  CmacChain<16>([this](const uint8_t* in, uint8_t* o) { aes_.Encrypt(in, o); }, k1_, k2_, kZeroIv,
                message, out);
}

void Aes128Cmac::ComputeMany(const uint8_t* const* messages, size_t length, size_t count,
                             uint8_t* tags) const {
  if (count == 0) return;
  if (length > 16 && length <= 32) {  // two blocks: the second built here, the chains fused
    const size_t rest = length - 16;
    const uint8_t* subkey = rest == 16 ? k1_ : k2_;
    uint8_t pad[16] = {};
    if (rest < 16) pad[rest] = 0x80;
    for (size_t i = 0; i < 16; ++i) pad[i] ^= subkey[i];
    // The second blocks go to `tags` first: EncryptChains2 may write over them.
    for (size_t m = 0; m < count; ++m) {
      uint8_t* block = tags + m * 16;
      std::memcpy(block, pad, 16);
      const uint8_t* p = messages[m] + 16;
      for (size_t i = 0; i < rest; ++i) block[i] ^= p[i];
    }
    aes_.EncryptChains2(messages, tags, tags, count);
    OPENSSL_cleanse(pad, sizeof(pad));
    return;
  }
  ChainMany<16>(k1_, k2_, messages, length, count, tags, 1, [this](uint8_t* blocks, size_t n) {
    aes_.EncryptBlocks(blocks, blocks, n);
    return absl::OkStatus();
  }).IgnoreError();  // in-memory encryption does not fail
}

}  // namespace desfired::crypto
