// Test that the header is self-contained: it comes first.
#include "sockit/session/deadline.hpp"

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <optional>
#include <variant>

// The watchdog sleeps until the deadline it saw: an idle connection costs no wake-ups, a
// deadline moved later is honoured at its new time, one set after none wakes it.
namespace sockit::session {
namespace {

using namespace std::chrono_literals;

void spawn_watch(asio::io_context& ctx, deadline& d, std::optional<bool>& fired) {
  asio::co_spawn(
      ctx, [&]() -> asio::awaitable<void> { fired = co_await watch_deadline(d); }, asio::detached);
}

TEST(WatchDeadline, SleepsWithoutWakingWhileTheDeadlineIsFar) {
  asio::io_context ctx;
  deadline d;
  d.expires_after(1h);
  std::optional<bool> fired;
  spawn_watch(ctx, d, fired);
  ctx.run_for(50ms);  // the coroutine starts and arms its timer
  // A watchdog that polls (it used to, once a second) runs handlers here; one that sleeps
  // until the deadline runs none.
  EXPECT_EQ(ctx.run_for(1100ms), 0u);
  EXPECT_FALSE(fired);
}

TEST(WatchDeadline, NoDeadlineMeansNoWakeUps) {
  asio::io_context ctx;
  deadline d;
  std::optional<bool> fired;
  spawn_watch(ctx, d, fired);
  ctx.run_for(50ms);
  EXPECT_EQ(ctx.run_for(1100ms), 0u);
  EXPECT_FALSE(fired);
}

TEST(WatchDeadline, ADeadlineSetAfterNoneWakesIt) {
  asio::io_context ctx;
  deadline d;
  std::optional<bool> fired;
  spawn_watch(ctx, d, fired);
  ctx.run_for(20ms);  // asleep with no deadline
  auto t0 = deadline::clock::now();
  d.expires_after(30ms);
  ctx.run_for(10s);  // returns as soon as the watchdog is done
  ASSERT_TRUE(fired);
  EXPECT_TRUE(*fired);
  EXPECT_GE(deadline::clock::now() - t0, 30ms);
}

TEST(WatchDeadline, ADeadlineMovedLaterIsHonouredAtItsNewTime) {
  asio::io_context ctx;
  deadline d;
  auto t0 = deadline::clock::now();
  d.expires_after(40ms);
  std::optional<bool> fired;
  spawn_watch(ctx, d, fired);
  ctx.run_for(10ms);
  d.expires_at(t0 + 300ms);  // no timer operation: the watchdog finds it at 40 ms
  ctx.run_for(10s);
  ASSERT_TRUE(fired);
  EXPECT_TRUE(*fired);
  EXPECT_GE(deadline::clock::now() - t0, 300ms);
}

TEST(WatchDeadline, ReturnsFalseWhenTheConnectionEndsFirstAndLetsGoOfTheDeadline) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context ctx;
  deadline d;
  d.expires_after(1h);
  std::optional<std::variant<std::monostate, bool>> v;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        auto work = []() -> asio::awaitable<void> {
          asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
          co_await t.async_wait(asio::use_awaitable);
        };
        v = co_await (work() || watch_deadline(d));
      },
      asio::detached);
  ctx.run_for(10s);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->index(), 0u);
  // The watchdog's timer is gone: moving the deadline earlier must not touch it (ASan).
  d.clear();
  d.expires_after(1ms);
  EXPECT_EQ(ctx.run_for(20ms), 0u);
}

TEST(WatchDeadline, AMoveAndTheEndInTheSameTurnStillEnds) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context ctx;
  deadline d;
  std::optional<std::variant<std::monostate, bool>> v;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        auto work = [&]() -> asio::awaitable<void> {
          asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
          co_await t.async_wait(asio::use_awaitable);
          d.expires_after(1h);  // wakes the watchdog as this branch ends the race
        };
        v = co_await (work() || watch_deadline(d));
      },
      asio::detached);
  ctx.run_for(10s);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->index(), 0u);
}

}  // namespace
}  // namespace sockit::session
