// transfer_limits: a lock-free byte budget, the free-space floor, a windowed rate floor.
#include "sockit/service/transfer_limits.hpp"

#include <algorithm>

namespace sockit::service {

bool disk_budget::take(std::uint64_t n) noexcept {
  if (max_ == UINT64_MAX) {
    used_.fetch_add(n, std::memory_order_relaxed);
    return true;
  }
  std::uint64_t cur = used_.load(std::memory_order_relaxed);
  do {
    if (n > max_ || cur > max_ - n) return false;
  } while (!used_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed));
  return true;
}

void disk_budget::give_back(std::uint64_t n) noexcept {
  std::uint64_t cur = used_.load(std::memory_order_relaxed);
  while (!used_.compare_exchange_weak(cur, cur - std::min(cur, n), std::memory_order_relaxed)) {
  }
}

std::uint64_t min_free_for(std::uint64_t size, std::uint64_t bytes, double fraction) noexcept {
  if (fraction <= 0) return 0;
  double part = static_cast<double>(size) * std::min(fraction, 1.0);
  return std::min(bytes, static_cast<std::uint64_t>(part));
}

bool rate_floor::add(std::uint64_t n, clock::time_point now) noexcept {
  bytes_ += n;
  if (rate_ == 0 || now - begun_ < window_) return true;
  double seconds = std::chrono::duration<double>(now - begun_).count();
  bool ok = static_cast<double>(bytes_) >= static_cast<double>(rate_) * seconds;
  begun_ = now;
  bytes_ = 0;
  return ok;
}

}  // namespace sockit::service
