// Aes128Schedule: an AES-128 key expanded once, in the object, for keys that encrypt only a few
// blocks — LRP re-keys AES at every step (lrp.h) and SUN derives a key per message
// (core/tap/sun.h) — where keying an OpenSSL context costs more than the blocks themselves.
// With AES-NI (checked once at run time) the rounds run in registers; without it every call
// goes through an OpenSSL context of the calling thread, keyed for that call.
//
//   Aes128Schedule aes(key16);
//   aes.Encrypt(in, out);                       // one block, in and out may alias
//   Aes128EncryptOnce(key16, in, out);          // a key for one block
//   Aes128EncryptEach(keys, ins, outs, n);      // n independent (key, block) pairs, interleaved
//
// AES-NI and OpenSSL both run in constant time with respect to the key and the data.
// Thread-safe: a const Aes128Schedule may be used from several threads at once; the free
// functions are thread-safe. The expanded key is wiped when the object is destroyed.
#ifndef DESFIRED_CORE_CRYPTO_AES_SCHEDULE_H_
#define DESFIRED_CORE_CRYPTO_AES_SCHEDULE_H_

#include <cstddef>
#include <cstdint>

namespace desfired::crypto {

class Aes128Schedule {
 public:
  // `key`: 16 bytes.
  explicit Aes128Schedule(const uint8_t* key);
  ~Aes128Schedule();
  Aes128Schedule(const Aes128Schedule&) = delete;
  Aes128Schedule& operator=(const Aes128Schedule&) = delete;
  Aes128Schedule(Aes128Schedule&& other) noexcept;  // wipes `other`
  Aes128Schedule& operator=(Aes128Schedule&& other) noexcept;

  // One 16-byte block; `in` and `out` may alias.
  void Encrypt(const uint8_t* in, uint8_t* out) const;
  void Decrypt(const uint8_t* in, uint8_t* out) const;
  // `count` independent blocks (ECB), four at a time through the pipeline; `in` == `out` is
  // allowed.
  void EncryptBlocks(const uint8_t* in, uint8_t* out, size_t count) const;
  // `count` two-block CBC chains: out + 16·i = E(E(firsts[i]) XOR seconds + 16·i), the 16
  // bytes at firsts[i] being the first block. With AES-NI eight chains run side by side (sixteen
  // with VAES on 512-bit registers), the expanded key held in registers: the CMAC of messages
  // of 17..32 bytes (tap records, Aes128Cmac::ComputeMany). `out` may alias `seconds`.
  void EncryptChains2(const uint8_t* const* firsts, const uint8_t* seconds, uint8_t* out,
                      size_t count) const;

  // True when the rounds run on AES-NI (else OpenSSL); for benches and tests.
  static bool Accelerated();

 private:
  alignas(16) uint8_t rk_[11][16];  // the round keys (without AES-NI: rk_[0] is the key)
};

// E(key, in) into `out` (16 bytes each; `out` may alias `in` or `key`).
void Aes128EncryptOnce(const uint8_t* key, const uint8_t* in, uint8_t* out);

// n independent encryptions: out + 16·i = E(keys[i], ins[i]). With AES-NI four at a time are
// interleaved, so their key expansions and rounds overlap in the pipeline. `out` may alias the
// inputs only block for block (out + 16·i == ins[i] or keys[i]).
void Aes128EncryptEach(const uint8_t* const* keys, const uint8_t* const* ins, uint8_t* out,
                       size_t n);

}  // namespace desfired::crypto

#endif  // DESFIRED_CORE_CRYPTO_AES_SCHEDULE_H_
