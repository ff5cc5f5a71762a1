#include "server/security/key_ring.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/security/key_policy.h"

namespace desfired::server {

KeyRing::KeyRing(std::string path)
    : path_(std::move(path)), current_(std::make_shared<const keys::KeyStore>()) {}

absl::Status KeyRing::Load() {
  if (path_.empty()) return absl::OkStatus();
  absl::StatusOr<keys::KeyStore> store = keys::KeyStore::LoadFile(path_);
  if (!store.ok()) return store.status();
  if (absl::Status grants = CheckKeyGrants(*store); !grants.ok()) {
    return absl::Status(grants.code(), absl::StrCat(path_, ": ", grants.message()));
  }
  if (absl::Status bound = binder_.Bind(*store); !bound.ok()) {
    return absl::Status(bound.code(), absl::StrCat(path_, ": ", bound.message()));
  }
  Replace(*std::move(store));
  return absl::OkStatus();
}

void KeyRing::Replace(keys::KeyStore store) {
  auto next = std::make_shared<const keys::KeyStore>(std::move(store));
  std::shared_ptr<const keys::KeyStore> previous;
  {
    absl::MutexLock lock(&mu_);
    previous = std::move(current_);
    current_ = std::move(next);
    ++generation_;
  }
  // `previous` is released outside the lock: when no call holds it, its keys are wiped here.
}

std::shared_ptr<const keys::KeyStore> KeyRing::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

uint64_t KeyRing::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

}  // namespace desfired::server
