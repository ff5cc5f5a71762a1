// MacVerifier: checks the MAC of tap records with the key rules of a KeyStore.
//
// Cipher contexts and CMAC subkeys are prepared once per key, and diversified per-card keys
// are kept in a bounded cache, so verifying a record allocates nothing in the common case.
//
// Token keys (a rule's key in a PKCS#11 token, bound: keys::Key::cipher) give the same
// outcomes as file keys. Their CMACs run in batches through the token (crypto::CmacManyVia:
// the subkeys from E_K(0) once, then one ECB call in the token per block position over all
// the records of a batch that share the key); a per-card master in the token diversifies the
// keys of new cards in the token, in batches (crypto::DiversifyKeysVia), and the per-card key
// that results is kept on the host in the cache, as a file master's is. When the token fails,
// the records it should have verified are named with their key and `key_unavailable`.
//
//   DESFIRED_ASSIGN_OR_RETURN(MacVerifier verifier, MacVerifier::Create(store));
//   MacVerifier::Outcome o = verifier.Verify(record_bytes, terminal_id);
//
// Thread-compatible: Verify() mutates scratch state; use one verifier per thread (they are
// cheap to create from the same store). The KeyStore must outlive the verifier.
#ifndef DESFIRED_CORE_TAP_MAC_VERIFIER_H_
#define DESFIRED_CORE_TAP_MAC_VERIFIER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/crypto/cmac.h"
#include "core/crypto/mac_algorithm.h"
#include "core/keys/key_store.h"

namespace desfired::tap {

class MacVerifier {
 public:
  // INVALID_ARGUMENT / INTERNAL when a key cannot be prepared; FAILED_PRECONDITION for a
  // token key that is not bound to its token.
  static absl::StatusOr<MacVerifier> Create(const keys::KeyStore& store);

  struct Outcome {
    const std::string* key_name = nullptr;  // nullptr: no rule applied
    crypto::MacAlgorithm algorithm = crypto::MacAlgorithm::kNone;
    bool verified = false;
    // A rule applied but its key could not be had or used (a token error, a per-card key that
    // could not be derived): the MAC was not checked.
    bool key_unavailable = false;
  };

  // `record` holds at least kMacOffset + kMacLength bytes.
  Outcome Verify(const uint8_t* record, uint32_t terminal_id);

  // Records per VerifyBatch chunk (larger counts are split into chunks of this many).
  static constexpr size_t kMaxBatch = 256;

  // Verifies `count` records (record i at records[i], each as for Verify(), from terminal
  // terminal_ids[i]) into out[i]; every outcome equals Verify()'s for that record. Records that
  // share a key are MACed side by side (AES-128 on AES-NI: crypto::Aes128Cmac::ComputeMany, one
  // two-block chain per record in registers, 8 or 16 at once; else crypto::Cmac::ComputeMany,
  // one cipher call per block position), and the keys of cards new to the cache are
  // diversified together. The MACs are
  // compared in constant time. Allocates only for new cards' keys.
  void VerifyBatch(const uint8_t* const* records, const uint32_t* terminal_ids, size_t count,
                   Outcome* out);

  // Computes the 8 MAC bytes a record would carry under `algorithm` with `cmac`.
  static void ComputeTapMac(const crypto::Cmac& cmac, crypto::MacAlgorithm algorithm,
                            const uint8_t* record, uint8_t out[8]);

  bool empty() const { return terminal_.empty() && !card_ && !static_; }

  MacVerifier(MacVerifier&&) noexcept;
  MacVerifier& operator=(MacVerifier&&) noexcept;
  ~MacVerifier();

 private:
  // A key that MACs records: in memory (`aes`: an AES-128 key on AES-NI, the record MACs
  // computed eight at a time in registers; else `cmac`), or in a token (`cipher`). A file key
  // may have both `aes` and `cmac` (a per-card master diversifies with `cmac`).
  struct MacKey {
    std::unique_ptr<crypto::Aes128Cmac> aes;
    std::unique_ptr<crypto::Cmac> cmac;
    std::shared_ptr<const crypto::KeyCipher> cipher;
  };
  struct Prepared {
    MacKey key;
    crypto::MacAlgorithm algorithm = crypto::MacAlgorithm::kNone;
    const std::string* name = nullptr;
  };
  struct CardRule {
    Prepared master;
    crypto::KeyType type = crypto::KeyType::kAes128;
    Bytes input;  // 7 UID bytes (zero here) followed by the system id
    absl::flat_hash_map<uint64_t, std::unique_ptr<MacKey>> cache;  // per-card keys, on the host
  };
  static absl::StatusOr<Prepared> Prepare(const keys::TapRule& rule);
  MacVerifier() = default;
  // Up to kMaxBatch records.
  void VerifyChunk(const uint8_t* const* records, const uint32_t* terminal_ids, size_t count,
                   Outcome* out);
  // The per-card keys of records[i] for every i with rules[i] == &card_->master, into keys[i]
  // (nullptr when diversification failed; the other keys[i] are left alone); new cards are
  // diversified together and cached.
  void CardKeys(const uint8_t* const* records, const Prepared* const* rules, size_t count,
                const MacKey** keys);

  absl::flat_hash_map<uint32_t, Prepared> terminal_;
  std::unique_ptr<CardRule> card_;
  std::optional<Prepared> static_;
};

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_MAC_VERIFIER_H_
