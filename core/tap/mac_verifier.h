// MacVerifier: checks the MAC of tap records with the key rules of a KeyStore.
//
// Cipher contexts and CMAC subkeys are prepared once per key, and diversified per-card keys
// are kept in a bounded cache, so verifying a record allocates nothing in the common case.
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
  // INVALID_ARGUMENT / INTERNAL when a key cannot be prepared.
  static absl::StatusOr<MacVerifier> Create(const keys::KeyStore& store);

  struct Outcome {
    const std::string* key_name = nullptr;  // nullptr: no rule applied
    crypto::MacAlgorithm algorithm = crypto::MacAlgorithm::kNone;
    bool verified = false;
  };

  // `record` holds at least kMacOffset + kMacLength bytes.
  Outcome Verify(const uint8_t* record, uint32_t terminal_id);

  // Computes the 8 MAC bytes a record would carry under `algorithm` with `cmac`.
  static void ComputeTapMac(const crypto::Cmac& cmac, crypto::MacAlgorithm algorithm,
                            const uint8_t* record, uint8_t out[8]);

  bool empty() const { return terminal_.empty() && !card_ && !static_; }

  MacVerifier(MacVerifier&&) noexcept;
  MacVerifier& operator=(MacVerifier&&) noexcept;
  ~MacVerifier();

 private:
  struct Prepared {
    std::unique_ptr<crypto::Cmac> cmac;
    crypto::MacAlgorithm algorithm = crypto::MacAlgorithm::kNone;
    const std::string* name = nullptr;
  };
  struct CardRule {
    Prepared master;
    crypto::KeyType type = crypto::KeyType::kAes128;
    Bytes input;  // 7 UID bytes followed by the system id; UID part rewritten per record
    absl::flat_hash_map<uint64_t, std::unique_ptr<crypto::Cmac>> cache;
  };
  MacVerifier() = default;
  static Outcome Check(const Prepared& p, const crypto::Cmac& cmac, const uint8_t* record);
  const crypto::Cmac* CardKey(const uint8_t* record);

  absl::flat_hash_map<uint32_t, Prepared> terminal_;
  std::unique_ptr<CardRule> card_;
  std::optional<Prepared> static_;
};

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_MAC_VERIFIER_H_
