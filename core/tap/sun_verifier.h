// SunVerifier: SUN messages (sun.h) verified with keys from a key store, and the read counter
// checked against the last one seen for the tag.
//
//   SunVerifier v(store, {.meta_key = "sdm-meta", .file_key = "sdm-file"}, &counters);
//   DESFIRED_RETURN_IF_ERROR(v.CheckKeys());        // before a batch: the names resolve
//   SunResult r = v.Verify(input);                  // VALID / FLAGGED / REJECTED
//   v.VerifyMany(inputs, results);                  // a batch: Verify's results, cheaper
//
// The keys are looked up and prepared once, when the verifier is made (sun.h SunKey: AES key
// schedules, LRP plaintexts and updated keys); a diversified file key is derived for all the
// messages of a batch at once (AN10922, crypto::DiversifyKeysWith).
//
// Keys: `meta_key` (K_SDMMetaRead) is used as stored — it is needed before the UID is known;
// `file_key` (K_SDMFileRead) is keys::CardKeyFor(key, UID, aid): its AN10922 diversification
// for the tag when the store diversifies it (docs/key-store.md), else the stored value.
// Counters: with a SunCounterStore, a VALID message whose counter is not above the last one
// recorded for its UID is FLAGGED with kCounterNotNewer (a replayed or cloned URL); VALID
// messages record their counter. Messages without a UID or counter are not checked.
//
// Thread-safety: Verify and VerifyMany may be called from several threads at once (the store
// is read-only, the prepared keys are const; SunCounterStore locks).
#ifndef DESFIRED_CORE_TAP_SUN_VERIFIER_H_
#define DESFIRED_CORE_TAP_SUN_VERIFIER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "core/keys/key_store.h"
#include "core/tap/sun.h"

namespace desfired::tap {

// The highest read counter seen per tag UID (in memory). Thread-safe.
class SunCounterStore {
 public:
  // Records `counter` for `uid` and returns true when it is above the last one recorded (or the
  // first); false, recording nothing, otherwise.
  bool Advance(const std::array<uint8_t, kSunUidLength>& uid, uint32_t counter);
  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, uint32_t> last_ ABSL_GUARDED_BY(mu_);
};

struct SunKeyNames {
  std::string meta_key = {};  // K_SDMMetaRead; needed for encrypted PICCData only
  std::string file_key = {};  // K_SDMFileRead (diversified per tag when the store says so)
  uint32_t aid = 0;           // the application in the AN10922 input
};

class SunVerifier {
 public:
  // `store` and `counters` (may be null: no counter check) must outlive the verifier. The keys
  // are looked up and prepared here (CheckKeys tells whether that worked).
  SunVerifier(const keys::KeyStore& store, SunKeyNames names, SunCounterStore* counters);

  // FAILED_PRECONDITION naming a key the store does not have (file_key
  // always, meta_key when given), INVALID_ARGUMENT for one that is not AES-128 or lives in a
  // token (its value is needed here).
  absl::Status CheckKeys() const { return meta_status_.ok() ? file_status_ : meta_status_; }

  // One message: REJECTED with `error` for bad input (sun.h ParseSunInput, a PICCDataTag that
  // does not decrypt, missing keys), else VALID or FLAGGED as described above.
  SunResult Verify(const SunInput& input) const;

  // Verify for each input, into results (as many as inputs), in order: the same results,
  // with the session-key CMACs (AES) and the AN10922 derivations of the batch computed side by
  // side. Counters are checked in input order.
  void VerifyMany(absl::Span<const SunInput> inputs, absl::Span<SunResult> results) const;

 private:
  // Both ciphers' preparation of one key (the cipher is the message's).
  struct Prepared {
    std::optional<SunKey> aes;
    std::optional<SunKey> lrp;
    const SunKey* For(SunCipher c) const {
      const std::optional<SunKey>& k = c == SunCipher::kAes ? aes : lrp;
      return k.has_value() ? &*k : nullptr;
    }
  };

  const SunKeyNames names_;
  SunCounterStore* const counters_;
  absl::Status meta_status_;  // needed for encrypted PICCData only
  absl::Status file_status_;
  const keys::Key* meta_ = nullptr;  // null without a meta_key
  const keys::Key* file_ = nullptr;
  Prepared meta_prepared_;
  Prepared file_prepared_;  // a static file key only
};

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_SUN_VERIFIER_H_
