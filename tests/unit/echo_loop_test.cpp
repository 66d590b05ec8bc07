// Test that the header is self-contained: it comes first.
#include "sockit/session/echo_loop.hpp"

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "test_stream.hpp"

namespace sockit::session {
namespace {

using sockit::test::test_stream;

// Python's bytes.upper(): ASCII a-z only.
std::string python_upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

std::string all_bytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

// Runs the echo loop over `stream` to completion on `ctx`.
echo_result run_loop(asio::io_context& ctx, test_stream& stream, std::size_t buf_size, bool upper,
                     deadline* idle = nullptr, deadline::clock::duration idle_after = {}) {
  std::vector<char> buf(buf_size);
  std::optional<echo_result> result;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        result = co_await echo_loop(stream, buf, upper, idle, idle_after);
      },
      asio::detached);
  ctx.run();
  EXPECT_TRUE(result.has_value());
  return result.value_or(echo_result{});
}

TEST(AsciiUpper, MatchesBytesUpperForEveryByte) {
  std::string s = all_bytes();
  std::string expect = python_upper(s);
  ascii_upper(s);
  EXPECT_EQ(s, expect);
}

TEST(AsciiUpper, LeavesUtf8MultibyteUntouched) {
  // "straße ÿ é 世界": every byte of a multi-byte sequence is >= 0x80 and stays as it is.
  std::string s =
      "stra\xc3\x9f"
      "e \xc3\xbf \xc3\xa9 \xe4\xb8\x96\xe7\x95\x8c";
  ascii_upper(s);
  EXPECT_EQ(s,
            "STRA\xc3\x9f"
            "E \xc3\xbf \xc3\xa9 \xe4\xb8\x96\xe7\x95\x8c");
}

TEST(EchoLoop, EchoesExactlyAndStopsOnEof) {
  asio::io_context ctx;
  test_stream s(ctx.get_executor());
  std::string msg = all_bytes() + "hello";
  s.append_input(msg);
  s.close_input();
  auto r = run_loop(ctx, s, 4096, false);
  EXPECT_EQ(s.output(), msg);
  EXPECT_EQ(r.bytes, msg.size());
  EXPECT_FALSE(r.error) << r.error.message();  // EOF is a clean end, not an error
}

TEST(EchoLoop, OneByteReadsAndOneByteWrites) {
  asio::io_context ctx;
  test_stream s(ctx.get_executor());
  std::string msg = "abc, \xe4\xb8\x96 XYZ 123 q" + all_bytes();
  s.append_input(msg);
  s.close_input();
  s.next_read_length(1);
  s.next_write_length(1);
  auto r = run_loop(ctx, s, 64, true);
  EXPECT_EQ(s.output(), python_upper(msg));
  EXPECT_EQ(r.bytes, msg.size());
  EXPECT_FALSE(r.error);
  // One read per byte plus the read that saw EOF.
  EXPECT_EQ(s.read_calls(), msg.size() + 1);
}

TEST(EchoLoop, ShortReadsAndWritesAtManySizes) {
  std::mt19937 rng(42);
  std::string msg(10000, '\0');
  for (char& c : msg) c = static_cast<char>(rng());
  for (std::size_t rl : {1u, 2u, 3u, 7u, 64u, 1000u}) {
    for (std::size_t wl : {1u, 5u, 333u}) {
      asio::io_context ctx;
      test_stream s(ctx.get_executor());
      s.append_input(msg);
      s.close_input();
      s.next_read_length(rl);
      s.next_write_length(wl);
      auto r = run_loop(ctx, s, 256, true);
      EXPECT_EQ(s.output(), python_upper(msg)) << rl << "/" << wl;
      EXPECT_EQ(r.bytes, msg.size());
    }
  }
}

TEST(EchoLoop, NeverAsksForMoreThanItsBuffer) {
  asio::io_context ctx;
  test_stream s(ctx.get_executor());
  std::string msg(100000, 'x');
  s.append_input(msg);
  s.close_input();
  auto r = run_loop(ctx, s, 512, false);
  EXPECT_EQ(r.bytes, msg.size());
  EXPECT_EQ(s.output(), msg);
  // Memory is bounded by the buffer: no read or write is larger than it.
  EXPECT_LE(s.largest_read_request(), 512u);
  EXPECT_LE(s.largest_write_request(), 512u);
}

TEST(EchoLoop, StopsReadingWhileThePeerDoesNotRead) {
  // A client that sends but never reads: the loop must wait on its write rather than keep
  // reading (and buffering) what arrives.
  asio::io_context ctx;
  test_stream s(ctx.get_executor());
  s.append_input(std::string(10000, 'a'));
  s.hold_writes(true);
  std::vector<char> buf(100);
  std::optional<echo_result> result;
  asio::co_spawn(
      ctx, [&]() -> asio::awaitable<void> { result = co_await echo_loop(s, buf, false); },
      asio::detached);
  while (ctx.poll() != 0) {
  }
  ctx.restart();
  EXPECT_TRUE(s.write_pending());
  EXPECT_EQ(s.read_calls(), 1u);
  EXPECT_EQ(s.input_left(), 10000u - 100u);
  s.hold_writes(false);
  s.close_input();
  ctx.run();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->bytes, 10000u);
  EXPECT_EQ(s.output(), std::string(10000, 'a'));
}

TEST(EchoLoop, ReportsReadErrors) {
  asio::io_context ctx;
  test_stream s(ctx.get_executor());
  s.append_input("abc");
  s.close_input(asio::error::connection_reset);
  auto r = run_loop(ctx, s, 64, false);
  EXPECT_EQ(r.error, asio::error::connection_reset);
  EXPECT_EQ(r.bytes, 3u);
  EXPECT_EQ(s.output(), "abc");
}

TEST(EchoLoop, ReportsWriteErrorsAndCountsOnlyWhatWasWritten) {
  asio::io_context ctx;
  test_stream s(ctx.get_executor());
  s.append_input("hello world");
  s.close_input();
  s.fail_writes(asio::error::broken_pipe, 4);
  auto r = run_loop(ctx, s, 64, false);
  EXPECT_EQ(r.error, asio::error::broken_pipe);
  EXPECT_EQ(r.bytes, 4u);
  EXPECT_EQ(s.output(), "hell");
}

TEST(EchoLoop, MovesTheIdleDeadlineOnEveryRead) {
  asio::io_context ctx;
  test_stream s(ctx.get_executor());
  deadline idle;
  idle.expires_at(deadline::clock::time_point{});  // long ago
  s.append_input("x");
  s.close_input();
  auto before = deadline::clock::now();
  run_loop(ctx, s, 64, false, &idle, std::chrono::hours(1));
  EXPECT_GE(idle.at(), before + std::chrono::hours(1));
}

TEST(IdleDeadline, ClosesAnIdleStreamAndCancelsItsRead) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context ctx;
  test_stream s(ctx.get_executor());
  deadline idle;
  idle.expires_after(std::chrono::milliseconds(50));
  std::vector<char> buf(64);
  std::optional<std::variant<echo_result, bool>> v;
  auto t0 = std::chrono::steady_clock::now();
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        v = co_await (echo_loop(s, buf, false, &idle, std::chrono::milliseconds(50)) ||
                      watch_deadline(idle));
      },
      asio::detached);
  ctx.run_for(std::chrono::seconds(10));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->index(), 1u);  // the watchdog won
  EXPECT_TRUE(std::get<1>(*v));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));
  EXPECT_FALSE(s.read_pending());  // the read was cancelled, not left dangling
}

TEST(IdleDeadline, AnActiveStreamOutlivesTheTimeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context ctx;
  test_stream s(ctx.get_executor());
  deadline idle;
  idle.expires_after(std::chrono::milliseconds(500));
  std::vector<char> buf(64);
  std::optional<std::variant<echo_result, bool>> v;
  // Feed a byte every 10 ms for 1.5 s with a 500 ms idle timeout, then end the stream: it
  // lives three timeouts long because every byte counts as activity.
  asio::steady_timer feeder(ctx);
  int fed = 0;
  std::function<void(std::error_code)> feed = [&](std::error_code) {
    if (v) return;
    if (fed++ == 150) {
      s.close_input();
      return;
    }
    s.append_input("k");
    feeder.expires_after(std::chrono::milliseconds(10));
    feeder.async_wait(feed);
  };
  feed({});
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        v = co_await (echo_loop(s, buf, true, &idle, std::chrono::milliseconds(500)) ||
                      watch_deadline(idle));
      },
      asio::detached);
  ctx.run_for(std::chrono::seconds(10));
  ASSERT_TRUE(v);
  ASSERT_EQ(v->index(), 0u) << "an active stream was closed as idle";
  EXPECT_EQ(std::get<0>(*v).bytes, 150u);
  EXPECT_EQ(s.output(), std::string(150, 'K'));
}

}  // namespace
}  // namespace sockit::session
