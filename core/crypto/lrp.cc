#include "core/crypto/lrp.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/crypto/aes_schedule.h"
#include "core/crypto/cmac.h"
#include "core/util/status_macros.h"

namespace desfired::crypto {
namespace {

constexpr uint8_t kLabel55 = 0x55;  // AN12304 Alg. 1/2: "next h" input
constexpr uint8_t kLabelAa = 0xAA;  // AN12304 Alg. 1/2: output input
constexpr size_t kMaxUpdatedKeys = 16;

}  // namespace

struct Lrp::State {
  uint8_t p[kLrpPlaintexts][kLrpBlock];
  uint8_t uk[kLrpBlock];

  ~State() {
    OPENSSL_cleanse(p, sizeof(p));
    OPENSSL_cleanse(uk, sizeof(uk));
  }
};

namespace {

// AN12304 Alg. 1/2's step from h: out = E(h, AA..AA), h = E(h, 55..55) (one key schedule).
void LrpStep(uint8_t* h, uint8_t* out) {
  static constexpr uint8_t kAa[kLrpBlock] = {0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA,
                                             0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA};
  static constexpr uint8_t k55[kLrpBlock] = {0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
                                             0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55};
  const Aes128Schedule aes(h);
  aes.Encrypt(kAa, out);
  aes.Encrypt(k55, h);
}

// E(key, c‖c‖..‖c).
void AesOfLabel(const uint8_t* key, uint8_t label, uint8_t* out) {
  uint8_t block[kLrpBlock];
  std::memset(block, label, sizeof(block));
  Aes128EncryptOnce(key, block, out);
}

}  // namespace

Lrp::Lrp(std::unique_ptr<State> state) : state_(std::move(state)) {}
Lrp::Lrp(Lrp&&) noexcept = default;
Lrp& Lrp::operator=(Lrp&&) noexcept = default;
Lrp::~Lrp() = default;

absl::StatusOr<Lrp> Lrp::Create(ByteSpan key, size_t updated_key) {
  if (key.size() != kLrpBlock) {
    return absl::InvalidArgumentError(absl::StrCat("LRP key must be 16 bytes, got ", key.size()));
  }
  if (updated_key >= kMaxUpdatedKeys) {
    return absl::InvalidArgumentError(
        absl::StrCat("LRP updated key index must be below 16, got ", updated_key));
  }
  auto state = std::make_unique<State>();
  uint8_t h[kLrpBlock];
  AesOfLabel(key.data(), kLabel55, h);  // Alg. 1
  for (size_t i = 0; i < kLrpPlaintexts; ++i) LrpStep(h, state->p[i]);
  AesOfLabel(key.data(), kLabelAa, h);  // Alg. 2
  for (size_t i = 0; i <= updated_key; ++i) LrpStep(h, state->uk);
  OPENSSL_cleanse(h, sizeof(h));
  return Lrp(std::move(state));
}

void Lrp::Eval(ByteSpan x, size_t nibbles, bool final, uint8_t* out) const {
  uint8_t y[kLrpBlock];
  std::memcpy(y, state_->uk, kLrpBlock);
  for (size_t i = 0; i < nibbles; ++i) {
    const uint8_t byte = x[i / 2];
    const uint8_t nibble = (i % 2 == 0) ? byte >> 4 : byte & 0x0F;
    Aes128EncryptOnce(y, state_->p[nibble], y);
  }
  if (final) {
    const uint8_t zero[kLrpBlock] = {};
    Aes128EncryptOnce(y, zero, y);
  }
  std::memcpy(out, y, kLrpBlock);
  OPENSSL_cleanse(y, sizeof(y));
}

absl::Status Lrp::Lricb(MutableByteSpan counter, size_t nibbles, MutableByteSpan data,
                        bool encrypt) const {
  if (data.size() % kLrpBlock != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LRICB data must be whole 16-byte blocks, got ", data.size(), " bytes"));
  }
  if (nibbles == 0 || counter.size() != (nibbles + 1) / 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "LRICB counter of ", nibbles, " nibbles cannot be ", counter.size(), " bytes"));
  }
  uint8_t y[kLrpBlock];
  for (size_t off = 0; off < data.size(); off += kLrpBlock) {
    Eval(counter, nibbles, /*final=*/true, y);
    const Aes128Schedule aes(y);
    uint8_t* block = data.data() + off;
    if (encrypt) {
      aes.Encrypt(block, block);
    } else {
      aes.Decrypt(block, block);
    }
    IncrementLrpCounter(counter, nibbles);
  }
  OPENSSL_cleanse(y, sizeof(y));
  return absl::OkStatus();
}

absl::Status Lrp::LricbEncrypt(MutableByteSpan counter, size_t nibbles,
                               MutableByteSpan data) const {
  return Lricb(counter, nibbles, data, true);
}

absl::Status Lrp::LricbDecrypt(MutableByteSpan counter, size_t nibbles,
                               MutableByteSpan data) const {
  return Lricb(counter, nibbles, data, false);
}

void Lrp::EvalMany(const Lrp* const* lrps, const uint8_t* const* xs, size_t nibbles, bool final,
                   uint8_t* outs, size_t count) {
  constexpr size_t kLanes = 64;
  static constexpr uint8_t kZero[kLrpBlock] = {};
  uint8_t y[kLanes][kLrpBlock];
  const uint8_t* keys[kLanes];
  const uint8_t* ins[kLanes];
  for (size_t base = 0; base < count; base += kLanes) {
    const size_t m = std::min(kLanes, count - base);
    for (size_t j = 0; j < m; ++j) {
      std::memcpy(y[j], lrps[base + j]->state_->uk, kLrpBlock);
      keys[j] = y[j];
    }
    for (size_t i = 0; i < nibbles; ++i) {
      for (size_t j = 0; j < m; ++j) {
        const uint8_t byte = xs[base + j][i / 2];
        const uint8_t nibble = (i % 2 == 0) ? byte >> 4 : byte & 0x0F;
        ins[j] = lrps[base + j]->state_->p[nibble];
      }
      Aes128EncryptEach(keys, ins, &y[0][0], m);
    }
    if (final) {
      for (size_t j = 0; j < m; ++j) ins[j] = kZero;
      Aes128EncryptEach(keys, ins, &y[0][0], m);
    }
    std::memcpy(outs + base * kLrpBlock, y, m * kLrpBlock);
  }
  OPENSSL_cleanse(y, sizeof(y));
}

ByteSpan Lrp::plaintext(size_t i) const { return ByteSpan(state_->p[i], kLrpBlock); }
ByteSpan Lrp::updated_key() const { return ByteSpan(state_->uk, kLrpBlock); }

void IncrementLrpCounter(MutableByteSpan counter, size_t nibbles) {
  // Walk from the least significant nibble; stop at the first one that does not wrap.
  for (size_t i = nibbles; i-- > 0;) {
    uint8_t& byte = counter[i / 2];
    const bool high = i % 2 == 0;
    const uint8_t nibble = static_cast<uint8_t>(((high ? byte >> 4 : byte) + 1) & 0x0F);
    byte = high ? static_cast<uint8_t>((byte & 0x0F) | nibble << 4)
                : static_cast<uint8_t>((byte & 0xF0) | nibble);
    if (nibble != 0) return;
  }
}

LrpCmac::LrpCmac(Lrp lrp) : lrp_(std::move(lrp)) {
  uint8_t l[kLrpBlock];
  const uint8_t zero[kLrpBlock] = {};
  lrp_.Eval(zero, 2 * kLrpBlock, /*final=*/true, l);  // L = EvalLRP(0^128)
  DoubleBlock(l, k1_, kLrpBlock);
  DoubleBlock(k1_, k2_, kLrpBlock);
  OPENSSL_cleanse(l, sizeof(l));
}

LrpCmac::LrpCmac(Lrp lrp, const uint8_t* l) : lrp_(std::move(lrp)) {
  DoubleBlock(l, k1_, kLrpBlock);
  DoubleBlock(k1_, k2_, kLrpBlock);
}

absl::StatusOr<std::vector<LrpCmac>> LrpCmac::CreateMany(const uint8_t* keys, size_t count) {
  std::vector<Lrp> lrps;
  lrps.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    DESFIRED_ASSIGN_OR_RETURN(Lrp lrp, Lrp::Create(ByteSpan(keys + i * kLrpBlock, kLrpBlock), 0));
    lrps.push_back(std::move(lrp));
  }
  // L = EvalLRP(0^128) of every key, side by side.
  std::vector<const Lrp*> ptrs(count);
  std::vector<const uint8_t*> zeros(count);
  static constexpr uint8_t kZero[kLrpBlock] = {};
  for (size_t i = 0; i < count; ++i) {
    ptrs[i] = &lrps[i];
    zeros[i] = kZero;
  }
  std::vector<uint8_t> l(count * kLrpBlock);
  Lrp::EvalMany(ptrs.data(), zeros.data(), 2 * kLrpBlock, /*final=*/true, l.data(), count);
  std::vector<LrpCmac> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) out.push_back(LrpCmac(std::move(lrps[i]), &l[i * kLrpBlock]));
  OPENSSL_cleanse(l.data(), l.size());
  return out;
}

void LrpCmac::ComputeMany(const LrpCmac* const* macs, const ByteSpan* messages, size_t count,
                          uint8_t* tags) {
  // Compute's chains side by side: block b of every message that has one, then one EvalMany
  // over those chains; a message's last block (whole: K1; partial or empty: 80 00.., K2) ends
  // its chain.
  std::vector<uint8_t> x(count * kLrpBlock, 0);
  std::vector<size_t> blocks(count);
  size_t most = 0;
  for (size_t i = 0; i < count; ++i) {
    blocks[i] = std::max<size_t>(1, (messages[i].size() + kLrpBlock - 1) / kLrpBlock);
    most = std::max(most, blocks[i]);
  }
  std::vector<const Lrp*> lrps;
  std::vector<const uint8_t*> ins;
  std::vector<size_t> lanes;
  std::vector<uint8_t> out;
  for (size_t b = 0; b < most; ++b) {
    lrps.clear();
    ins.clear();
    lanes.clear();
    for (size_t i = 0; i < count; ++i) {
      if (b >= blocks[i]) continue;
      uint8_t* xi = &x[i * kLrpBlock];
      const size_t off = b * kLrpBlock;
      const size_t take =
          std::min(kLrpBlock, messages[i].size() - std::min(off, messages[i].size()));
      for (size_t k = 0; k < take; ++k) xi[k] ^= messages[i][off + k];
      if (b + 1 == blocks[i]) {
        if (take != kLrpBlock) xi[take] ^= 0x80;
        const uint8_t* sub = take == kLrpBlock ? macs[i]->k1_ : macs[i]->k2_;
        for (size_t k = 0; k < kLrpBlock; ++k) xi[k] ^= sub[k];
      }
      lrps.push_back(&macs[i]->lrp_);
      ins.push_back(xi);
      lanes.push_back(i);
    }
    out.resize(lanes.size() * kLrpBlock);
    Lrp::EvalMany(lrps.data(), ins.data(), 2 * kLrpBlock, /*final=*/true, out.data(), lanes.size());
    for (size_t j = 0; j < lanes.size(); ++j) {
      std::memcpy(&x[lanes[j] * kLrpBlock], &out[j * kLrpBlock], kLrpBlock);
    }
  }
  std::memcpy(tags, x.data(), x.size());
  OPENSSL_cleanse(x.data(), x.size());
  OPENSSL_cleanse(out.data(), out.size());
}

absl::StatusOr<LrpCmac> LrpCmac::Create(ByteSpan key) {
  DESFIRED_ASSIGN_OR_RETURN(Lrp lrp, Lrp::Create(key, 0));
  return LrpCmac(std::move(lrp));
}

LrpCmac::LrpCmac(LrpCmac&& other) noexcept : lrp_(std::move(other.lrp_)) {
  std::memcpy(k1_, other.k1_, kLrpBlock);
  std::memcpy(k2_, other.k2_, kLrpBlock);
  OPENSSL_cleanse(other.k1_, kLrpBlock);
  OPENSSL_cleanse(other.k2_, kLrpBlock);
}

LrpCmac& LrpCmac::operator=(LrpCmac&& other) noexcept {
  if (this != &other) {
    lrp_ = std::move(other.lrp_);
    std::memcpy(k1_, other.k1_, kLrpBlock);
    std::memcpy(k2_, other.k2_, kLrpBlock);
    OPENSSL_cleanse(other.k1_, kLrpBlock);
    OPENSSL_cleanse(other.k2_, kLrpBlock);
  }
  return *this;
}

LrpCmac::~LrpCmac() {
  OPENSSL_cleanse(k1_, kLrpBlock);
  OPENSSL_cleanse(k2_, kLrpBlock);
}

void LrpCmac::Compute(ByteSpan message, uint8_t* out) const {
  // SP 800-38B with EvalLRP as the block function: every block but the last is chained; the
  // last is XORed with K1 when whole (and the message not empty), else padded 80 00.. and
  // XORed with K2.
  uint8_t x[kLrpBlock] = {};
  size_t n = message.size();
  const uint8_t* p = message.data();
  while (n > kLrpBlock) {
    for (size_t i = 0; i < kLrpBlock; ++i) x[i] ^= p[i];
    lrp_.Eval(ByteSpan(x, kLrpBlock), 2 * kLrpBlock, true, x);
    p += kLrpBlock;
    n -= kLrpBlock;
  }
  const bool whole = n == kLrpBlock;
  for (size_t i = 0; i < n; ++i) x[i] ^= p[i];
  if (!whole) x[n] ^= 0x80;
  const uint8_t* k = whole ? k1_ : k2_;
  for (size_t i = 0; i < kLrpBlock; ++i) x[i] ^= k[i];
  lrp_.Eval(ByteSpan(x, kLrpBlock), 2 * kLrpBlock, true, out);
  OPENSSL_cleanse(x, sizeof(x));
}

}  // namespace desfired::crypto
