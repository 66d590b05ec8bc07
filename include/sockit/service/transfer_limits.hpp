// transfer_limits: the file server's bounds on disk and time that a hostile peer would push:
// a byte budget for everything the server writes (--max-disk), the free space to keep
// (--min-free) and a minimum transfer rate averaged over a window (--min-rate).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace sockit::service {

/// Bytes the server may still write into its directory, all connections together. Uploads
/// take what they announce (or each piece, for streams) before writing it, and give back
/// what they did not write. Written bytes stay taken for the server's lifetime: stored
/// files, and partials left behind for --resume (files deleted later are not credited).
class disk_budget {
 public:
  explicit disk_budget(std::uint64_t max = UINT64_MAX) noexcept : max_(max) {}
  /// Takes n bytes; false (and nothing taken) when that would pass the maximum.
  bool take(std::uint64_t n) noexcept;
  void give_back(std::uint64_t n) noexcept;
  std::uint64_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
  std::uint64_t max() const noexcept { return max_; }

 private:
  std::uint64_t max_;
  std::atomic<std::uint64_t> used_{0};
};

/// The free space an upload must leave in a filesystem of `size` bytes: the smaller of
/// `bytes` and `fraction` of the size.
std::uint64_t min_free_for(std::uint64_t size, std::uint64_t bytes, double fraction) noexcept;

/// A floor under a peer's sending rate, averaged over a window so that a slow but steady
/// link (or a short stall) passes: each time bytes arrive after a window has passed, the
/// bytes since the window began must average at least `bytes_per_second`; then a new window
/// begins. Silence is not seen here (the inactivity timeout handles it). 0 = no floor.
class rate_floor {
 public:
  using clock = std::chrono::steady_clock;
  rate_floor(std::uint64_t bytes_per_second, clock::duration window,
             clock::time_point start = clock::now()) noexcept
      : rate_(bytes_per_second), window_(window), begun_(start) {}
  /// Counts n bytes that arrived at `now`; false when the window that closed was too slow.
  bool add(std::uint64_t n, clock::time_point now = clock::now()) noexcept;

 private:
  std::uint64_t rate_;
  clock::duration window_;
  clock::time_point begun_;
  std::uint64_t bytes_ = 0;
};

}  // namespace sockit::service
