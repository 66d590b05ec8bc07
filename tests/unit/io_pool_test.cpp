// Test that the header is self-contained: it comes first.
#include "sockit/session/io_pool.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace sockit::session {
namespace {

TEST(IoPool, DefaultSizeIsTheMachine) {
  EXPECT_GE(default_thread_count(), 1u);
  io_pool pool;
  EXPECT_EQ(pool.size(), default_thread_count());
  io_pool three(3);
  EXPECT_EQ(three.size(), 3u);
}

TEST(IoPool, NextIsRoundRobin) {
  io_pool pool(3);
  std::set<asio::io_context*> seen;
  asio::io_context* first = &pool.next();
  seen.insert(first);
  seen.insert(&pool.next());
  seen.insert(&pool.next());
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(&pool.next(), first);                 // wraps around
  EXPECT_EQ(&pool.context(4), &pool.context(1));  // indexes wrap too
}

TEST(IoPool, EachLoopRunsOnItsOwnThreadAndJoinWaitsForWork) {
  io_pool pool(3);
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::atomic<int> ran{0};
  for (unsigned i = 0; i < 30; ++i) {
    asio::post(pool.context(i), [&] {
      std::lock_guard lock(mu);
      threads.insert(std::this_thread::get_id());
      ++ran;
    });
  }
  pool.start();
  pool.release();
  pool.join();
  EXPECT_EQ(ran.load(), 30);
  EXPECT_EQ(threads.size(), 3u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

TEST(IoPool, ReleaseIsGracefulTimersStillFire) {
  io_pool pool(2);
  std::atomic<bool> fired{false};
  asio::steady_timer timer(pool.context(1), std::chrono::milliseconds(30));
  timer.async_wait([&](std::error_code ec) { fired = !ec; });
  pool.start();
  pool.release();  // the loops keep running until the timer's work is done
  pool.join();
  EXPECT_TRUE(fired.load());
}

TEST(IoPool, StopAbandonsPendingWork) {
  io_pool pool(2);
  std::atomic<bool> fired{false};
  asio::steady_timer timer(pool.context(0), std::chrono::hours(1));
  timer.async_wait([&](std::error_code) { fired = true; });
  pool.start();
  pool.stop();
  pool.join();  // returns although the timer is still pending
  EXPECT_FALSE(fired.load());
}

TEST(IoPool, DestructorStopsRunningLoops) {
  auto pool = std::make_unique<io_pool>(2);
  pool->start();
  pool.reset();  // must not hang: the work guards are still held
  SUCCEED();
}

TEST(IoPool, AThrowingHandlerDoesNotEndItsLoop) {
  io_pool pool(1);
  std::atomic<bool> after{false};
  asio::post(pool.context(0), [] { throw std::runtime_error("handler bug"); });
  asio::post(pool.context(0), [&] { after = true; });
  pool.start();
  pool.release();
  pool.join();
  EXPECT_TRUE(after.load());
  EXPECT_EQ(pool.exceptions(), 1u);
}

TEST(IoPool, DestructorWithoutStart) {
  io_pool pool(2);
  asio::post(pool.context(0), [] {});
  SUCCEED();
}

}  // namespace
}  // namespace sockit::session
