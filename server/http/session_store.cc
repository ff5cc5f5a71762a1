#include "server/http/session_store.h"

#include <openssl/crypto.h>

#include <utility>

#include "core/crypto/random.h"
#include "core/util/bytes.h"
#include "core/util/status_macros.h"

namespace desfired::server::http {
namespace {

absl::StatusOr<std::string> RandomHex() {
  Bytes bytes(32);
  DESFIRED_RETURN_IF_ERROR(crypto::RandomBytes(MutableByteSpan(bytes)));
  return HexEncode(bytes);
}

}  // namespace

absl::StatusOr<SessionStore::Created> SessionStore::Create(std::string token, Principal principal) {
  DESFIRED_ASSIGN_OR_RETURN(std::string id, RandomHex());
  DESFIRED_ASSIGN_OR_RETURN(std::string csrf, RandomHex());
  const absl::Time now = absl::Now();
  const absl::Time expires = now + options_.ttl;
  const std::string key = TokenHash(id);
  absl::MutexLock lock(&mu_);
  // Drop the expired ones, then the oldest beyond the bound.
  while (!by_expiry_.empty() &&
         (by_expiry_.begin()->first <= now || sessions_.size() >= options_.max_sessions)) {
    sessions_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
  sessions_[key] = Session{.token = std::move(token),
                           .principal = std::move(principal),
                           .csrf = csrf,
                           .expires = expires};
  by_expiry_.emplace(expires, key);
  return Created{.id = std::move(id), .csrf = std::move(csrf), .expires = expires};
}

std::optional<Session> SessionStore::Find(absl::string_view id) {
  if (id.size() != 64) return std::nullopt;
  const std::string key = TokenHash(id);
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires <= absl::Now()) return std::nullopt;  // dropped by the next Create
  return it->second;
}

void SessionStore::Remove(absl::string_view id) {
  const std::string key = TokenHash(id);
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return;
  auto range = by_expiry_.equal_range(it->second.expires);
  for (auto e = range.first; e != range.second; ++e) {
    if (e->second == key) {
      by_expiry_.erase(e);
      break;
    }
  }
  sessions_.erase(it);
}

size_t SessionStore::size() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

bool SessionStore::CsrfMatches(const Session& session, absl::string_view header) {
  return header.size() == session.csrf.size() && !session.csrf.empty() &&
         CRYPTO_memcmp(header.data(), session.csrf.data(), header.size()) == 0;
}

}  // namespace desfired::server::http
