// Test that the header is self-contained: it comes first.
#include "sockit/service/transfer_limits.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace sockit::service {
namespace {

TEST(DiskBudget, TakesUpToTheMaximumAndGivesBack) {
  disk_budget b(100);
  EXPECT_TRUE(b.take(60));
  EXPECT_FALSE(b.take(41));  // refused whole: nothing taken
  EXPECT_EQ(b.used(), 60u);
  EXPECT_TRUE(b.take(40));
  EXPECT_FALSE(b.take(1));
  b.give_back(30);
  EXPECT_TRUE(b.take(30));
  b.give_back(1000);  // never below zero
  EXPECT_EQ(b.used(), 0u);
  EXPECT_FALSE(b.take(UINT64_MAX));
  disk_budget unlimited;
  EXPECT_TRUE(unlimited.take(UINT64_MAX / 2));
}

TEST(DiskBudget, ConcurrentTakesNeverPassTheMaximum) {
  disk_budget b(1000);
  std::vector<std::thread> threads;
  std::atomic<int> granted{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) granted += b.take(1) ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 1000);
  EXPECT_EQ(b.used(), 1000u);
}

TEST(MinFree, TheSmallerOfBytesAndFraction) {
  constexpr std::uint64_t gib = 1ull << 30;
  EXPECT_EQ(min_free_for(100 * gib, gib, 0.05), gib);            // 5% would be 5 GiB
  EXPECT_EQ(min_free_for(10 * gib, gib, 0.05), 10 * gib / 20);   // 5% = 512 MiB
  EXPECT_EQ(min_free_for(10 * gib, UINT64_MAX, 1.0), 10 * gib);  // 100%
  EXPECT_EQ(min_free_for(10 * gib, 0, 0.0), 0u);
}

TEST(RateFloor, AveragedOverTheWindow) {
  using namespace std::chrono_literals;
  auto t0 = rate_floor::clock::now();
  rate_floor r(1000, 1s, t0);
  EXPECT_TRUE(r.add(1, t0 + 500ms));     // inside the first window: not judged yet
  EXPECT_TRUE(r.add(2000, t0 + 900ms));  // a burst
  EXPECT_TRUE(r.add(0, t0 + 1100ms));    // window closed at 2001 B in 1.1 s: fine
  EXPECT_TRUE(r.add(1, t0 + 1500ms));
  EXPECT_FALSE(r.add(1, t0 + 2200ms));  // 2 B in 1.1 s: too slow
  rate_floor none(0, 1s, t0);
  EXPECT_TRUE(none.add(0, t0 + 1h));
}

}  // namespace
}  // namespace sockit::service
