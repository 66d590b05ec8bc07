// address_limits: the address key, the per-address connection count (one mutex: it is
// touched once at accept and once at close, never per byte), and the source buckets.
#include "sockit/session/address_limits.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace sockit::session {

std::string address_key(const sockaddr* sa, socklen_t len) {
  if (sa == nullptr) return {};
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return std::string(reinterpret_cast<const char*>(&in->sin_addr), 4);
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    const auto* b = reinterpret_cast<const char*>(&in6->sin6_addr);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return std::string(b + 12, 4);
    if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr)) {
      std::string key(b, 16);
      key.append(reinterpret_cast<const char*>(&in6->sin6_scope_id), sizeof(std::uint32_t));
      return key;
    }
    return std::string(b, 8);
  }
  return {};
}

struct address_count_state {
  mutable std::mutex mu;
  std::unordered_map<std::string, std::size_t> live;
};

address_slot& address_slot::operator=(address_slot&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::move(other.state_);
    key_ = std::move(other.key_);
  }
  return *this;
}

void address_slot::release() noexcept {
  if (!state_) return;
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->live.find(key_);
    if (it != state_->live.end() && --it->second == 0) state_->live.erase(it);
  }
  state_.reset();
}

address_counter::address_counter(std::size_t max)
    : max_(max), state_(std::make_shared<address_count_state>()) {}

bool address_counter::try_claim(const std::string& key, address_slot& slot) {
  if (max_ == 0 || key.empty()) return true;
  {
    std::lock_guard lock(state_->mu);
    std::size_t& n = state_->live[key];
    if (n >= max_) return false;
    ++n;
  }
  slot = address_slot();
  slot.state_ = state_;
  slot.key_ = key;
  return true;
}

std::size_t address_counter::live(const std::string& key) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->live.find(key);
  return it == state_->live.end() ? 0 : it->second;
}

std::size_t address_counter::addresses() const {
  std::lock_guard lock(state_->mu);
  return state_->live.size();
}

source_limiter::source_limiter(double rate, double burst, std::size_t max_sources)
    : source_limiter(limits{rate, burst, 0, 1}, max_sources) {}

source_limiter::source_limiter(const limits& l, std::size_t max_sources)
    : lim_(l), max_sources_(std::max<std::size_t>(max_sources, 1)) {
  lim_.burst = std::max(lim_.burst, 1.0);
  lim_.byte_burst = std::max(lim_.byte_burst, 1.0);
  index_.reserve(max_sources_);
}

bool source_limiter::allow(const std::string& key, clock::time_point now, std::size_t bytes) {
  std::lock_guard lock(mu_);
  auto found = index_.find(key);
  std::list<entry>::iterator it;
  if (found != index_.end()) {
    it = found->second;
    lru_.splice(lru_.begin(), lru_, it);
  } else {
    if (lru_.size() >= max_sources_) {
      // Forgetting a source whose buckets are not yet full would give it fresh ones: refuse
      // the newcomer instead (see the header).
      entry& oldest = lru_.back();
      if (!oldest.messages.full(now) || !oldest.bytes.full(now)) return false;
      index_.erase(oldest.key);
      lru_.pop_back();
    }
    lru_.push_front(entry{
        key, token_bucket(lim_.rate, lim_.burst, now),
        lim_.byte_rate > 0 ? token_bucket(lim_.byte_rate, lim_.byte_burst, now) : token_bucket()});
    it = lru_.begin();
    index_.emplace(key, it);
  }
  // Both or neither: a message the byte bucket refuses costs no message token.
  const double cost = static_cast<double>(bytes);
  if (!it->messages.holds(now) || !it->bytes.try_take(now, cost)) return false;
  return it->messages.try_take(now);  // it holds one
}

std::size_t source_limiter::sources() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace sockit::session
