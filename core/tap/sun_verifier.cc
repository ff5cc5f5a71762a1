#include "core/tap/sun_verifier.h"

#include <string>

#include "absl/strings/str_cat.h"
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

SunResult Rejected(std::string error) {
  SunResult r;
  r.status = SunStatus::kRejected;
  r.error = std::move(error);
  return r;
}

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

absl::Status SunVerifier::CheckKeys() const {
  if (!names_.meta_key.empty()) {
    absl::StatusOr<const keys::Key*> meta = UsableKey(store_, "meta_key", names_.meta_key);
    if (!meta.ok()) return meta.status();
  }
  return UsableKey(store_, "file_key", names_.file_key).status();
}

SunResult SunVerifier::Verify(const SunInput& input) const {
  absl::StatusOr<SunMessage> msg = ParseSunInput(input);
  if (!msg.ok()) return Rejected(std::string(msg.status().message()));
  if (!msg->picc_enc.empty()) {
    if (names_.meta_key.empty()) return Rejected("picc_data: no meta_key to decrypt it with");
    absl::StatusOr<const keys::Key*> meta = UsableKey(store_, "meta_key", names_.meta_key);
    if (!meta.ok()) return Rejected(std::string(meta.status().message()));
    if (absl::Status s = DecryptPiccData(*msg, (*meta)->value.view()); !s.ok()) {
      return Rejected(std::string(s.message()));
    }
  }
  absl::StatusOr<const keys::Key*> file = UsableKey(store_, "file_key", names_.file_key);
  if (!file.ok()) return Rejected(std::string(file.status().message()));
  if ((*file)->diversify.has_value() && !msg->uid.has_value()) {
    return Rejected("file_key: diversified per tag, but the message does not mirror the UID");
  }
  const ByteSpan uid =
      msg->uid.has_value() ? ByteSpan(msg->uid->data(), msg->uid->size()) : ByteSpan();
  absl::StatusOr<keys::SecretBytes> key = keys::CardKeyFor(**file, uid, names_.aid);
  if (!key.ok()) return Rejected(std::string(key.status().message()));
  SunResult r = VerifySunMac(*msg, key->view());
  if (r.status == SunStatus::kValid && counters_ != nullptr && r.uid.has_value() &&
      r.counter.has_value() && !counters_->Advance(*r.uid, *r.counter)) {
    r.status = SunStatus::kFlagged;
    r.add(SunWarning::kCounterNotNewer);
  }
  return r;
}

}  // namespace desfired::tap
