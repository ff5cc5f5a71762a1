#include "server/http/sign_in_limit.h"

namespace desfired::server::http {

void SignInLimit::Expire(std::deque<absl::Time>& times, absl::Time now) const {
  while (!times.empty() && times.front() + options_.window <= now) times.pop_front();
}

absl::Duration SignInLimit::RetryAfter(const std::string& address, absl::Time now) {
  if (options_.max_failures == 0) return absl::ZeroDuration();
  absl::MutexLock lock(&mu_);
  auto it = failures_.find(address);
  if (it == failures_.end()) return absl::ZeroDuration();
  Expire(it->second, now);
  if (it->second.empty()) {
    failures_.erase(it);
    return absl::ZeroDuration();
  }
  if (it->second.size() < options_.max_failures) return absl::ZeroDuration();
  return it->second.front() + options_.window - now;
}

void SignInLimit::Failed(const std::string& address, absl::Time now) {
  if (options_.max_failures == 0) return;
  absl::MutexLock lock(&mu_);
  if (!failures_.contains(address) && failures_.size() >= options_.max_addresses) {
    for (auto it = failures_.begin(); it != failures_.end();) {
      auto current = it++;
      Expire(current->second, now);
      if (current->second.empty()) failures_.erase(current);
    }
    if (failures_.size() >= options_.max_addresses) failures_.erase(failures_.begin());
  }
  std::deque<absl::Time>& times = failures_[address];
  Expire(times, now);
  times.push_back(now);
  while (times.size() > options_.max_failures) times.pop_front();
}

}  // namespace desfired::server::http
