// SunVerifier: SUN messages (sun.h) verified with keys from a key store, and the read counter
// checked against the last one seen for the tag.
//
//   SunVerifier v(store, {.meta_key = "sdm-meta", .file_key = "sdm-file"}, &counters);
//   DESFIRED_RETURN_IF_ERROR(v.CheckKeys());        // before a batch: the names resolve
//   SunResult r = v.Verify(input);                  // VALID / FLAGGED / REJECTED
//
// Keys: `meta_key` (K_SDMMetaRead) is used as stored — it is needed before the UID is known;
// `file_key` (K_SDMFileRead) is keys::CardKeyFor(key, UID, aid): its AN10922 diversification
// for the tag when the store diversifies it (docs/key-store.md), else the stored value.
// Counters: with a SunCounterStore, a VALID message whose counter is not above the last one
// recorded for its UID is FLAGGED with kCounterNotNewer (a replayed or cloned URL); VALID
// messages record their counter. Messages without a UID or counter are not checked.
//
// Thread-safety: Verify may be called from several threads at once (the store is read-only;
// SunCounterStore locks).
#ifndef DESFIRED_CORE_TAP_SUN_VERIFIER_H_
#define DESFIRED_CORE_TAP_SUN_VERIFIER_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
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
  // `store` and `counters` (may be null: no counter check) must outlive the verifier.
  SunVerifier(const keys::KeyStore& store, SunKeyNames names, SunCounterStore* counters)
      : store_(store), names_(std::move(names)), counters_(counters) {}

  // FAILED_PRECONDITION naming a key the store does not have (file_key
  // always, meta_key when given), INVALID_ARGUMENT for one that is not AES-128 or lives in a
  // token (its value is needed here).
  absl::Status CheckKeys() const;

  // One message: REJECTED with `error` for bad input (sun.h ParseSunInput, a PICCDataTag that
  // does not decrypt, missing keys), else VALID or FLAGGED as described above.
  SunResult Verify(const SunInput& input) const;

 private:
  const keys::KeyStore& store_;
  const SunKeyNames names_;
  SunCounterStore* const counters_;
};

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_SUN_VERIFIER_H_
