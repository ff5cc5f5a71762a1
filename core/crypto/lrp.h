// LRP, the Leakage Resilient Primitive of NXP AN12304 (DESFire EV3 / Light, NTAG 424 DNA), on
// AES-128: the primitive, LRICB encryption and CMAC_LRP.
//
//   Lrp  (key K, updated key index q)
//     plaintexts   h = E(K, 55..55); for i in 0..15: P_i = E(h, AA..AA), h = E(h, 55..55)
//     updated key  h = E(K, AA..AA); for i in 0..q:  UK_i = E(h, AA..AA), h = E(h, 55..55)
//     Eval(x)      y = UK_q; for each nibble b of x (high nibble of a byte first):
//                  y = E(y, P_b); final: y = E(y, 00..00)
//     LRICB        per 16-byte block: y = Eval(counter, final), C = E(y, M) (M = D(y, C)),
//                  counter + 1 modulo 16^nibbles
//   LrpCmac (key K): SP 800-38B CMAC whose block function is Eval(block, 32 nibbles, final)
//                  of Lrp(K, 0); subkeys L = Eval(0^128), K1 = 2·L, K2 = 2·K1.
//
//   DESFIRED_ASSIGN_OR_RETURN(Lrp enc, Lrp::Create(session_master_key, 1));
//   uint8_t counter[4] = {0, 0, 0, 1};
//   DESFIRED_RETURN_IF_ERROR(enc.LricbEncrypt(counter, 8, data));  // data: whole blocks
//
// Every step re-keys AES with the value just computed, so this costs one key schedule per
// nibble (aes_schedule.h: in registers with AES-NI). Keys, plaintexts and updated keys are
// wiped when the object is destroyed.
// Thread-safe: a const Lrp (and a const LrpCmac) may be used from several threads at once.
#ifndef DESFIRED_CORE_CRYPTO_LRP_H_
#define DESFIRED_CORE_CRYPTO_LRP_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/util/bytes.h"

namespace desfired::crypto {

inline constexpr size_t kLrpBlock = 16;
inline constexpr size_t kLrpPlaintexts = 16;  // m = 4: one plaintext per nibble value

class Lrp {
 public:
  // INVALID_ARGUMENT when key is not 16 bytes or updated_key > 15; INTERNAL when OpenSSL
  // fails.
  static absl::StatusOr<Lrp> Create(ByteSpan key, size_t updated_key = 0);

  Lrp(Lrp&&) noexcept;
  Lrp& operator=(Lrp&&) noexcept;
  ~Lrp();

  // EvalLRP over the first `nibbles` nibbles of `x` (x.size() * 2 >= nibbles; an odd count
  // uses the high nibble of the last byte) into `out` (16 bytes).
  void Eval(ByteSpan x, size_t nibbles, bool final, uint8_t* out) const;

  // LRICB over `data` in place (a whole number of 16-byte blocks, else INVALID_ARGUMENT; no
  // padding is added or removed). `counter` holds `nibbles` nibbles (counter.size() ==
  // (nibbles + 1) / 2) and is advanced by one per block.
  absl::Status LricbEncrypt(MutableByteSpan counter, size_t nibbles, MutableByteSpan data) const;
  absl::Status LricbDecrypt(MutableByteSpan counter, size_t nibbles, MutableByteSpan data) const;

  // For tests against AN12304: P_i and the updated key in use.
  ByteSpan plaintext(size_t i) const;
  ByteSpan updated_key() const;

  // Eval of `count` independent inputs side by side: outs + 16·i = lrps[i]->Eval(xs[i],
  // nibbles, final). The chains advance together, four AES steps at a time through the
  // pipeline (Aes128EncryptEach), which hides most of each step's latency. `outs` may alias
  // xs[i] block for block.
  static void EvalMany(const Lrp* const* lrps, const uint8_t* const* xs, size_t nibbles, bool final,
                       uint8_t* outs, size_t count);

 private:
  struct State;
  explicit Lrp(std::unique_ptr<State> state);
  absl::Status Lricb(MutableByteSpan counter, size_t nibbles, MutableByteSpan data,
                     bool encrypt) const;
  std::unique_ptr<State> state_;
};

// Adds one to a counter of `nibbles` nibbles (modulo 16^nibbles) held as in Lrp::Eval: with
// an odd count the low nibble of the last byte is not part of it and stays as it is.
void IncrementLrpCounter(MutableByteSpan counter, size_t nibbles);

class LrpCmac {
 public:
  // Errors as Lrp::Create.
  static absl::StatusOr<LrpCmac> Create(ByteSpan key);

  // The full 16-byte CMAC_LRP of `message` into `out`.
  void Compute(ByteSpan message, uint8_t* out) const;

  // The subkeys, for tests against published values.
  ByteSpan k1() const { return ByteSpan(k1_, kLrpBlock); }
  ByteSpan k2() const { return ByteSpan(k2_, kLrpBlock); }

  // The LRP instance (updated key 0) behind the CMAC, for callers that also encrypt or decrypt
  // with the same key and updated key 0.
  const Lrp& lrp() const { return lrp_; }

  // Create for `count` keys (16 bytes each, key i at keys + 16·i), their subkeys computed side
  // by side (Lrp::EvalMany). Errors as Create.
  static absl::StatusOr<std::vector<LrpCmac>> CreateMany(const uint8_t* keys, size_t count);

  // Compute for `count` messages of any lengths, side by side: tags + 16·i =
  // macs[i]->Compute(messages[i]).
  static void ComputeMany(const LrpCmac* const* macs, const ByteSpan* messages, size_t count,
                          uint8_t* tags);

  LrpCmac(LrpCmac&&) noexcept;
  LrpCmac& operator=(LrpCmac&&) noexcept;
  ~LrpCmac();  // wipes the subkeys

 private:
  explicit LrpCmac(Lrp lrp);
  LrpCmac(Lrp lrp, const uint8_t* l);  // L = Eval(0^128) already computed
  Lrp lrp_;
  uint8_t k1_[kLrpBlock] = {};
  uint8_t k2_[kLrpBlock] = {};
};

}  // namespace desfired::crypto

#endif  // DESFIRED_CORE_CRYPTO_LRP_H_
