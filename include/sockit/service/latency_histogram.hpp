// latency_histogram: log-linear buckets (about 1.6% resolution) from 1 ns to 2^64 ns in a
// fixed 30 KiB array, so recording is O(1), allocation-free, and histograms merge exactly.
#pragma once

#include <array>
#include <cstdint>

namespace sockit::service {

class latency_histogram {
 public:
  void record(std::uint64_t nanoseconds) noexcept;
  void merge(const latency_histogram& other) noexcept;

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
  /// The value at percentile `p` (0..100]: at least p% of samples are <= it, and it
  /// overstates the true sample by at most one bucket width (about 1.6%).
  std::uint64_t percentile(double p) const noexcept;

  static constexpr unsigned sub_bucket_bits = 6;
  static constexpr unsigned bucket_count = (64 - sub_bucket_bits + 1) << sub_bucket_bits;
  static unsigned index_of(std::uint64_t value) noexcept;
  static std::uint64_t highest_equivalent(unsigned index) noexcept;

 private:
  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0, sum_ = 0, min_ = UINT64_MAX, max_ = 0;
};

}  // namespace sockit::service
