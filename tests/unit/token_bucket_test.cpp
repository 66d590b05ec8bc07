#include "sockit/session/token_bucket.hpp"

#include <gtest/gtest.h>

namespace {

using sockit::session::token_bucket;
using namespace std::chrono_literals;
using clock_type = token_bucket::clock;

TEST(TokenBucket, DefaultAndRateZeroNeverRunDry) {
  token_bucket none;
  token_bucket zero(0, 5, clock_type::now());
  int calls = 0;
  auto now = [&] {
    ++calls;
    return clock_type::now();
  };
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(none.spend(now));
    EXPECT_TRUE(zero.spend(now));
  }
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(zero.wait(clock_type::now()), clock_type::duration::zero());
}

TEST(TokenBucket, BurstThenRate) {
  auto t = clock_type::time_point{} + 1h;
  token_bucket b(10, 4, t);  // 10 per second, 4 at once
  auto now = [&] { return t; };
  EXPECT_TRUE(b.spend(now));
  EXPECT_TRUE(b.spend(now));
  EXPECT_TRUE(b.spend(now));
  EXPECT_FALSE(b.spend(now));  // the fourth was the last of the burst
  EXPECT_FALSE(b.ready());
  EXPECT_EQ(b.wait(t), 100ms);
  t += 50ms;
  EXPECT_EQ(b.wait(t), 50ms);
  t += 50ms;
  EXPECT_EQ(b.wait(t), clock_type::duration::zero());
  EXPECT_TRUE(b.ready());
  EXPECT_FALSE(b.spend(now));  // one token came back, and it is spent
  // A long silence refills up to the burst, not beyond.
  t += 1h;
  EXPECT_EQ(b.wait(t), clock_type::duration::zero());
  int run = 1;
  while (b.spend(now)) ++run;
  EXPECT_EQ(run, 4);
}

// Once when a burst begins (a full bucket's refill time starts then) and once when it runs
// dry: not per event.
TEST(TokenBucket, CallsTheClockOnlyWhenABurstBeginsAndWhenDry) {
  auto t = clock_type::time_point{} + 1h;
  token_bucket b(1, 100, t);
  int calls = 0;
  auto now = [&] {
    ++calls;
    return t;
  };
  for (int i = 0; i < 99; ++i) EXPECT_TRUE(b.spend(now));
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(b.spend(now));
  EXPECT_EQ(calls, 2);
}

TEST(TokenBucket, BurstBelowOneIsOne) {
  auto t = clock_type::time_point{} + 1h;
  token_bucket b(2, 0, t);
  EXPECT_TRUE(b.ready());
  EXPECT_FALSE(b.spend([&] { return t; }));
  EXPECT_EQ(b.wait(t), 500ms);
}

// What session::source_limiter uses: a cost of many tokens (bytes), all or nothing.
TEST(TokenBucket, TryTakeIsAllOrNothingAndFullMeansTheWholeBurst) {
  auto t = clock_type::time_point{} + 1h;
  token_bucket bytes(1000, 1500, t);  // 1000 bytes a second, 1500 at once
  EXPECT_TRUE(bytes.full(t));
  EXPECT_FALSE(bytes.try_take(t, 1501));  // more than the burst: never
  EXPECT_TRUE(bytes.holds(t, 1500));
  EXPECT_TRUE(bytes.try_take(t, 1000));
  EXPECT_FALSE(bytes.full(t));
  EXPECT_FALSE(bytes.try_take(t, 600));  // 500 left: nothing taken
  EXPECT_TRUE(bytes.try_take(t, 500));
  t += 1500ms;
  EXPECT_TRUE(bytes.full(t));
  EXPECT_TRUE(token_bucket().try_take(t, 1e12));
}

// A quiet member gets its burst once, not twice: the time it sat full refills nothing.
TEST(TokenBucket, AFullBucketGainsNothingWhileItSitsFull) {
  auto t = clock_type::time_point{} + 1h;
  token_bucket b(1, 10, t);
  auto now = [&] { return t; };
  t += 10s;  // quiet, full
  int run = 1;
  while (b.spend(now)) ++run;
  EXPECT_EQ(run, 10);
}

TEST(TokenBucket, NonsenseRatesAndBurstsAreNoLimitAndOne) {
  auto t = clock_type::time_point{} + 1h;
  EXPECT_FALSE(token_bucket(std::numeric_limits<double>::quiet_NaN(), 5, t).limited());
  EXPECT_FALSE(token_bucket(std::numeric_limits<double>::infinity(), 5, t).limited());
  EXPECT_FALSE(token_bucket(-3, 5, t).limited());
  token_bucket nan_burst(10, std::numeric_limits<double>::quiet_NaN(), t);
  EXPECT_FALSE(nan_burst.spend([&] { return t; }));  // a burst of one
  token_bucket tiny(1e-300, 1, t);
  EXPECT_FALSE(tiny.spend([&] { return t; }));
  EXPECT_EQ(tiny.wait(t), std::chrono::duration_cast<clock_type::duration>(24h));
}

}  // namespace
