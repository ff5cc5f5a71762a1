#include "core/tap/sun_verifier.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/crypto/an10922.h"
#include "core/keys/secret.h"

namespace desfired::tap {
namespace {

absl::StatusOr<const keys::Key*> UsableKey(const keys::KeyStore& store, absl::string_view role,
                                           absl::string_view name) {
  const keys::Key* key = store.Find(name);
  if (key == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(role, ": key '", name, "' is not in the key store"));
  }
  if (key->type != crypto::KeyType::kAes128) {
    return absl::InvalidArgumentError(
        absl::StrCat(role, ": key '", name, "' is not AES128 (SDM keys are AES-128)"));
  }
  if (key->in_token()) {
    return absl::InvalidArgumentError(
        absl::StrCat(role, ": key '", name, "' lives in a token; SUN needs a file key"));
  }
  return key;
}

void Reject(SunResult& r, absl::string_view error) {
  r = SunResult();
  r.status = SunStatus::kRejected;
  r.error = std::string(error);
}

// Both ciphers' preparations of `key`.
absl::Status Prepare(const keys::Key& key, absl::string_view what, std::optional<SunKey>& aes,
                     std::optional<SunKey>& lrp) {
  absl::StatusOr<SunKey> a = SunKey::Create(SunCipher::kAes, key.value.view(), what);
  if (!a.ok()) return a.status();
  absl::StatusOr<SunKey> l = SunKey::Create(SunCipher::kLrp, key.value.view(), what);
  if (!l.ok()) return l.status();
  aes.emplace(*std::move(a));
  lrp.emplace(*std::move(l));
  return absl::OkStatus();
}

// Messages per batch of AN10922 derivations.
constexpr size_t kBatch = 64;
constexpr size_t kKeyBytes = 16;

}  // namespace

bool SunCounterStore::Advance(const std::array<uint8_t, kSunUidLength>& uid, uint32_t counter) {
  const std::string k(uid.begin(), uid.end());
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = last_.try_emplace(k, counter);
  if (inserted) return true;
  if (counter <= it->second) return false;
  it->second = counter;
  return true;
}

size_t SunCounterStore::size() const {
  absl::MutexLock lock(&mu_);
  return last_.size();
}

SunVerifier::SunVerifier(const keys::KeyStore& store, SunKeyNames names, SunCounterStore* counters)
    : names_(std::move(names)), counters_(counters) {
  if (!names_.meta_key.empty()) {
    absl::StatusOr<const keys::Key*> meta = UsableKey(store, "meta_key", names_.meta_key);
    meta_status_ = meta.status();
    if (meta.ok()) {
      meta_status_ = Prepare(**meta, "K_SDMMetaRead", meta_prepared_.aes, meta_prepared_.lrp);
      if (meta_status_.ok()) meta_ = *meta;
    }
  }
  absl::StatusOr<const keys::Key*> file = UsableKey(store, "file_key", names_.file_key);
  file_status_ = file.status();
  if (!file.ok()) return;
  if (!(*file)->diversify.has_value()) {
    file_status_ = Prepare(**file, "K_SDMFileRead", file_prepared_.aes, file_prepared_.lrp);
  }
  if (file_status_.ok()) file_ = *file;
}

SunResult SunVerifier::Verify(const SunInput& input) const {
  SunResult r;
  VerifyMany(absl::MakeConstSpan(&input, 1), absl::MakeSpan(&r, 1));
  return r;
}

void SunVerifier::VerifyMany(absl::Span<const SunInput> inputs,
                             absl::Span<SunResult> results) const {
  SunMessage msgs[kBatch];
  const SunMessage* ptrs[kBatch];
  size_t index[kBatch];  // ptrs[j] is input index[j]
  for (size_t base = 0; base < inputs.size(); base += kBatch) {
    const size_t end = std::min(inputs.size(), base + kBatch);
    size_t n = 0;
    // Parse and decrypt the PICCData; what fails is REJECTED here.
    for (size_t i = base; i < end; ++i) {
      SunMessage& msg = msgs[i - base];
      SunResult& r = results[i];
      absl::StatusOr<SunMessage> parsed = ParseSunInput(inputs[i]);
      if (!parsed.ok()) {
        Reject(r, parsed.status().message());
        continue;
      }
      msg = *std::move(parsed);
      if (msg.picc_enc_size != 0) {
        if (names_.meta_key.empty()) {
          Reject(r, "picc_data: no meta_key to decrypt it with");
          continue;
        }
        if (!meta_status_.ok()) {
          Reject(r, meta_status_.message());
          continue;
        }
        if (absl::Status s = DecryptPiccDataWith(msg, *meta_prepared_.For(msg.cipher)); !s.ok()) {
          Reject(r, s.message());
          continue;
        }
      }
      if (!file_status_.ok()) {
        Reject(r, file_status_.message());
        continue;
      }
      if (file_->diversify.has_value() && !msg.uid.has_value()) {
        Reject(r, "file_key: diversified per tag, but the message does not mirror the UID");
        continue;
      }
      ptrs[n] = &msg;
      index[n++] = i;
    }
    if (n == 0) {
      // Nothing left to verify in this chunk.
    } else if (!file_->diversify.has_value()) {
      // A static key: each cipher's messages in one pass.
      for (SunCipher c : {SunCipher::kAes, SunCipher::kLrp}) {
        const SunMessage* group[kBatch];
        SunResult out[kBatch];
        size_t where[kBatch];
        size_t m = 0;
        for (size_t j = 0; j < n; ++j) {
          if (ptrs[j]->cipher != c) continue;
          group[m] = ptrs[j];
          where[m++] = index[j];
        }
        if (m == 0) continue;
        VerifySunMacs(absl::MakeConstSpan(group, m), *file_prepared_.For(c),
                      absl::MakeSpan(out, m));
        for (size_t j = 0; j < m; ++j) results[where[j]] = std::move(out[j]);
      }
    } else {
      // A diversified key: every tag's key derived in one batch (AN10922 input: UID ‖ AID
      // (3 bytes, LSB first) ‖ system identifier, as keys::CardKeyFor).
      const Bytes& system_id = file_->diversify->system_id;
      const size_t input_length = kSunUidLength + 3 + system_id.size();
      uint8_t inputs_buf[kBatch][kSunUidLength + 3 + 32];
      const uint8_t* input_ptrs[kBatch];
      for (size_t j = 0; j < n; ++j) {
        uint8_t* in = inputs_buf[j];
        std::copy(ptrs[j]->uid->begin(), ptrs[j]->uid->end(), in);
        StoreLe24(names_.aid, in + kSunUidLength);
        std::copy(system_id.begin(), system_id.end(), in + kSunUidLength + 3);
        input_ptrs[j] = in;
      }
      crypto::Wiped<kBatch * kKeyBytes> derived;
      absl::StatusOr<crypto::Cmac> master =
          crypto::Cmac::Create(crypto::KeyType::kAes128, file_->value.view());
      absl::Status s = master.status();
      if (s.ok()) {
        s = crypto::DiversifyKeysWith(*master, crypto::KeyType::kAes128, input_ptrs, input_length,
                                      n, derived.data());
      }
      for (size_t j = 0; j < n; ++j) {
        SunResult& r = results[index[j]];
        if (!s.ok()) {
          Reject(r, absl::StrCat("key '", file_->name, "': cannot diversify (", s.message(), ")"));
          continue;
        }
        r = VerifySunMac(*ptrs[j], ByteSpan(derived.data() + j * kKeyBytes, kKeyBytes));
      }
    }
    // The counters, in input order, of the messages that verified.
    if (counters_ == nullptr) continue;
    for (size_t j = 0; j < n; ++j) {
      SunResult& r = results[index[j]];
      if (r.status == SunStatus::kValid && r.uid.has_value() && r.counter.has_value() &&
          !counters_->Advance(*r.uid, *r.counter)) {
        r.status = SunStatus::kFlagged;
        r.add(SunWarning::kCounterNotNewer);
      }
    }
  }
}

}  // namespace desfired::tap
