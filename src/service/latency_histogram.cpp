// latency_histogram: index = shift * 64 + (value >> shift), shift = max(0, msb - 6).
#include "sockit/service/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sockit::service {

unsigned latency_histogram::index_of(std::uint64_t value) noexcept {
  unsigned msb = value ? 63u - static_cast<unsigned>(std::countl_zero(value)) : 0u;
  unsigned shift = msb > sub_bucket_bits ? msb - sub_bucket_bits : 0u;
  return (shift << sub_bucket_bits) + static_cast<unsigned>(value >> shift);
}

std::uint64_t latency_histogram::highest_equivalent(unsigned index) noexcept {
  constexpr unsigned sub = 1u << sub_bucket_bits;
  if (index < 2 * sub) return index;
  unsigned shift = index / sub - 1;
  std::uint64_t base = static_cast<std::uint64_t>(index - shift * sub) << shift;
  return base + ((std::uint64_t{1} << shift) - 1);
}

void latency_histogram::record(std::uint64_t ns) noexcept {
  ++buckets_[index_of(ns)];
  ++count_;
  sum_ += ns;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
}

void latency_histogram::merge(const latency_histogram& other) noexcept {
  for (unsigned i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

std::uint64_t latency_histogram::percentile(double p) const noexcept {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  auto target = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  if (target == 0) target = 1;
  std::uint64_t seen = 0;
  for (unsigned i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= target) return std::min(highest_equivalent(i), max_);
  }
  return max_;
}

}  // namespace sockit::service
