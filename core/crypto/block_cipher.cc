#include "core/crypto/block_cipher.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace desfired::crypto {
namespace {

struct CtxDeleter {
  // EVP_CIPHER_CTX_free clears the provider context, including the key schedule.
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

// Explicit fetches, done once per process, so Create() does not repeat the provider lookup
// that EVP_aes_128_ecb() & co. trigger on every init. Never freed (process lifetime).
const EVP_CIPHER* AesEcb() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr);
  return cipher;
}
// DES-EDE3 lives in the default provider (single DES does not); all DES-family keys run on it.
const EVP_CIPHER* TdesEcb() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "DES-EDE3-ECB", nullptr);
  return cipher;
}

// Bytes processed per EVP call in CbcDecrypt (a stack buffer; a multiple of 8 and 16).
constexpr size_t kChunk = 256;

inline void XorInto(uint8_t* dst, const uint8_t* src, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] ^= src[i];
}

bool InitEcb(EVP_CIPHER_CTX* ctx, const EVP_CIPHER* cipher, const uint8_t* key, int enc) {
  return EVP_CipherInit_ex(ctx, cipher, nullptr, key, nullptr, enc) == 1 &&
         EVP_CIPHER_CTX_set_padding(ctx, 0) == 1;
}

// ECB over whole blocks; `len` is a multiple of the block size and fits an int.
inline bool EcbEncrypt(EVP_CIPHER_CTX* ctx, const uint8_t* in, uint8_t* out, size_t len) {
  int out_len = 0;
  return EVP_EncryptUpdate(ctx, out, &out_len, in, static_cast<int>(len)) == 1;
}
inline bool EcbDecrypt(EVP_CIPHER_CTX* ctx, const uint8_t* in, uint8_t* out, size_t len) {
  int out_len = 0;
  return EVP_DecryptUpdate(ctx, out, &out_len, in, static_cast<int>(len)) == 1;
}

}  // namespace

struct BlockCipher::State {
  KeyType type;
  size_t block_size;
  CtxPtr enc;  // ECB, padding off
  CtxPtr dec;  // ECB, padding off
};

BlockCipher::BlockCipher(std::unique_ptr<State> state) : state_(std::move(state)) {}
BlockCipher::BlockCipher(BlockCipher&&) noexcept = default;
BlockCipher& BlockCipher::operator=(BlockCipher&&) noexcept = default;
BlockCipher::~BlockCipher() = default;

absl::StatusOr<BlockCipher> BlockCipher::Create(KeyType type, ByteSpan key) {
  const size_t want = KeyLength(type);
  if (key.size() != want) {
    // Lengths only: the key itself must never reach a message or a log.
    return absl::InvalidArgumentError(
        absl::StrCat(KeyTypeName(type), " key must be ", want, " bytes, got ", key.size()));
  }

  // AES keys go in as is. The DES family becomes a 24-byte DES-EDE3 key: DES = K‖K‖K
  // (EDE with equal keys collapses to one DES), 2TDEA = K1‖K2‖K1.
  uint8_t material[24];
  const EVP_CIPHER* cipher = nullptr;
  switch (type) {
    case KeyType::kAes128:
      std::memcpy(material, key.data(), 16);
      cipher = AesEcb();
      break;
    case KeyType::kDes:
      for (size_t i = 0; i < 3; ++i) std::memcpy(material + 8 * i, key.data(), 8);
      cipher = TdesEcb();
      break;
    case KeyType::k2Tdea:
      std::memcpy(material, key.data(), 16);
      std::memcpy(material + 16, key.data(), 8);
      cipher = TdesEcb();
      break;
    case KeyType::k3Tdea:
      std::memcpy(material, key.data(), 24);
      cipher = TdesEcb();
      break;
  }

  auto state = std::make_unique<State>();
  state->type = type;
  state->block_size = BlockSize(type);
  state->enc.reset(EVP_CIPHER_CTX_new());
  state->dec.reset(EVP_CIPHER_CTX_new());
  const bool ok = cipher != nullptr && state->enc != nullptr && state->dec != nullptr &&
                  InitEcb(state->enc.get(), cipher, material, 1) &&
                  InitEcb(state->dec.get(), cipher, material, 0);
  OPENSSL_cleanse(material, sizeof(material));
  if (!ok) {
    ERR_clear_error();
    return absl::InternalError(
        absl::StrCat("OpenSSL could not set up a ", KeyTypeName(type), " cipher"));
  }
  return BlockCipher(std::move(state));
}

KeyType BlockCipher::type() const { return state_->type; }
size_t BlockCipher::block_size() const { return state_->block_size; }

// EVP_{En,De}cryptUpdate cannot fail on a context initialised in Create() with whole blocks, so the
// single-block calls do not report errors.
void BlockCipher::EncryptBlock(const uint8_t* in, uint8_t* out) const {
  EcbEncrypt(state_->enc.get(), in, out, state_->block_size);
}

void BlockCipher::EncryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const {
  if (count > 0) EcbEncrypt(state_->enc.get(), in, out, count * state_->block_size);
}

void BlockCipher::DecryptBlock(const uint8_t* in, uint8_t* out) const {
  EcbDecrypt(state_->dec.get(), in, out, state_->block_size);
}

namespace {
absl::Status CheckCbcArgs(size_t block_size, MutableByteSpan iv, MutableByteSpan data) {
  if (iv.size() != block_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("CBC IV must be ", block_size, " bytes, got ", iv.size()));
  }
  if (data.size() % block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CBC data length ", data.size(), " is not a multiple of the block size ", block_size));
  }
  return absl::OkStatus();
}
}  // namespace

// CBC is done over the ECB context: re-keying an EVP CBC context with a new IV
// (EVP_CipherInit_ex(..., iv, -1)) costs ~115 ns on OpenSSL 3.0, more than the blocks of a
// typical DESFire frame.
absl::Status BlockCipher::CbcEncrypt(MutableByteSpan iv, MutableByteSpan data) const {
  const size_t bs = state_->block_size;
  if (absl::Status s = CheckCbcArgs(bs, iv, data); !s.ok()) return s;
  EVP_CIPHER_CTX* ctx = state_->enc.get();
  const uint8_t* chain = iv.data();
  for (size_t off = 0; off < data.size(); off += bs) {
    uint8_t* block = data.data() + off;
    XorInto(block, chain, bs);
    if (!EcbEncrypt(ctx, block, block, bs)) return absl::InternalError("EVP encrypt failed");
    chain = block;
  }
  if (!data.empty()) std::memcpy(iv.data(), chain, bs);
  return absl::OkStatus();
}

// Decryption is parallel: one ECB call per chunk, then XOR with the previous ciphertext.
absl::Status BlockCipher::CbcDecrypt(MutableByteSpan iv, MutableByteSpan data) const {
  const size_t bs = state_->block_size;
  if (absl::Status s = CheckCbcArgs(bs, iv, data); !s.ok()) return s;
  EVP_CIPHER_CTX* ctx = state_->dec.get();
  uint8_t cipher_text[kChunk];
  uint8_t prev[16];
  std::memcpy(prev, iv.data(), bs);
  for (size_t off = 0; off < data.size(); off += kChunk) {
    const size_t len = std::min(kChunk, data.size() - off);
    uint8_t* p = data.data() + off;
    std::memcpy(cipher_text, p, len);
    if (!EcbDecrypt(ctx, cipher_text, p, len)) return absl::InternalError("EVP decrypt failed");
    XorInto(p, prev, bs);
    for (size_t i = bs; i < len; i += bs) XorInto(p + i, cipher_text + i - bs, bs);
    std::memcpy(prev, cipher_text + len - bs, bs);
  }
  std::memcpy(iv.data(), prev, bs);
  return absl::OkStatus();
}

}  // namespace desfired::crypto
