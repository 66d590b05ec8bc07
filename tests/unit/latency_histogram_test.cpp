// Test that the header is self-contained: it comes first.
#include "sockit/service/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace sockit::service {
namespace {

// The oracle: the smallest sample such that at least p% of samples are <= it.
std::uint64_t oracle(std::vector<std::uint64_t> v, double p) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  if (rank == 0) rank = 1;
  return v[rank - 1];
}

// The stated resolution: the answer is never below the true sample and overstates it by at
// most one bucket width, 1/64 of the value (about 1.6%).
void expect_within_resolution(std::uint64_t got, std::uint64_t truth, double p) {
  EXPECT_GE(got, truth) << "p" << p;
  EXPECT_LE(static_cast<double>(got - truth), static_cast<double>(truth) / 64.0 + 1.0)
      << "p" << p << " got " << got << " truth " << truth;
}

TEST(LatencyHistogram, EmptyIsAllZero) {
  latency_histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.percentile(100), 0u);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  latency_histogram h;
  for (std::uint64_t v = 0; v < 128; ++v) h.record(v);
  EXPECT_EQ(h.count(), 128u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 127u);
  EXPECT_DOUBLE_EQ(h.mean(), 63.5);
  EXPECT_EQ(h.percentile(50), 63u);
  EXPECT_EQ(h.percentile(100), 127u);
  EXPECT_EQ(h.percentile(0.1), 0u);
}

TEST(LatencyHistogram, PercentilesAgainstSortedOracle) {
  std::mt19937_64 rng(7);
  // Log-uniform from 1 ns to ~1 s, like real latencies with a long tail.
  std::uniform_real_distribution<double> exp10(0.0, 9.0);
  std::vector<std::uint64_t> samples;
  latency_histogram h;
  for (int i = 0; i < 100000; ++i) {
    auto v = static_cast<std::uint64_t>(std::pow(10.0, exp10(rng)));
    samples.push_back(v);
    h.record(v);
  }
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    expect_within_resolution(h.percentile(p), oracle(samples, p), p);
  }
  EXPECT_EQ(h.max(), *std::max_element(samples.begin(), samples.end()));
  EXPECT_EQ(h.min(), *std::min_element(samples.begin(), samples.end()));
  EXPECT_EQ(h.percentile(100), h.max());
}

TEST(LatencyHistogram, BucketBoundsCoverEveryValue) {
  // Every value maps to a bucket whose highest equivalent is >= it and within 1/64 of it.
  std::mt19937_64 rng(3);
  std::vector<std::uint64_t> values{
      0, 1, 63, 64, 65, 127, 128, 129, 1000, 1u << 20, UINT64_MAX / 2, UINT64_MAX - 1, UINT64_MAX};
  for (int i = 0; i < 10000; ++i) values.push_back(rng() >> (rng() % 64));
  for (auto v : values) {
    unsigned idx = latency_histogram::index_of(v);
    ASSERT_LT(idx, latency_histogram::bucket_count) << v;
    auto hi = latency_histogram::highest_equivalent(idx);
    EXPECT_GE(hi, v);
    EXPECT_LE(static_cast<double>(hi - v), static_cast<double>(v) / 64.0 + 1.0) << v;
  }
  // Indexes are monotonic in the value.
  std::sort(values.begin(), values.end());
  for (std::size_t i = 1; i < values.size(); ++i) {
    EXPECT_LE(latency_histogram::index_of(values[i - 1]), latency_histogram::index_of(values[i]));
  }
}

TEST(LatencyHistogram, HugeValues) {
  latency_histogram h;
  h.record(UINT64_MAX);
  h.record(0);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.max(), UINT64_MAX);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.percentile(100), UINT64_MAX);
}

TEST(LatencyHistogram, PercentileArgumentIsClamped) {
  latency_histogram h;
  for (std::uint64_t v = 1; v <= 10; ++v) h.record(v * 1000);
  EXPECT_EQ(h.percentile(-5), h.percentile(0));
  EXPECT_EQ(h.percentile(250), h.max());
  EXPECT_GE(h.percentile(0), 1000u);  // p0 is the smallest sample's bucket, not 0
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(11);
  latency_histogram a, b, all;
  for (int i = 0; i < 5000; ++i) {
    auto v = rng() % 10'000'000;
    (i % 3 ? a : b).record(v);
    all.record(v);
  }
  latency_histogram merged = a;
  merged.merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (double p : {50.0, 90.0, 99.0, 99.9, 100.0})
    EXPECT_EQ(merged.percentile(p), all.percentile(p));
}

TEST(LatencyHistogram, MergeWithEmptyKeepsMinAndMax) {
  latency_histogram a, empty;
  a.record(500);
  a.record(700);
  a.merge(empty);
  EXPECT_EQ(a.min(), 500u);
  EXPECT_EQ(a.max(), 700u);
  EXPECT_EQ(a.count(), 2u);
  latency_histogram e2;
  e2.merge(a);
  EXPECT_EQ(e2.min(), 500u);
  EXPECT_EQ(e2.max(), 700u);
  EXPECT_EQ(e2.percentile(100), 700u);
}

}  // namespace
}  // namespace sockit::service
