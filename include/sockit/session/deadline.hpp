// Per-connection deadline: one time point that readers move (absolute for a frame header,
// rolling for body inactivity) and one watchdog coroutine that fires when it passes. Moving
// the deadline costs a clock read, not a timer operation, so it is cheap per frame.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>

namespace sockit::session {

/// Owned by one connection; set and read on its loop only.
class deadline {
 public:
  using clock = std::chrono::steady_clock;

  /// No deadline until one is set.
  void clear() noexcept { at_ = clock::time_point::max(); }
  void expires_at(clock::time_point t) noexcept { at_ = t; }
  /// A zero or negative duration means "no deadline".
  void expires_after(clock::duration d) noexcept {
    at_ = d.count() > 0 ? clock::now() + d : clock::time_point::max();
  }
  clock::time_point at() const noexcept { return at_; }
  bool expired() const noexcept { return at_ != clock::time_point::max() && clock::now() >= at_; }

 private:
  clock::time_point at_ = clock::time_point::max();
};

/// Completes (returns true) once `d` has passed. Run it with awaitable_operators `||` beside
/// the connection's loop, so the loop's pending read or write is cancelled when it fires.
/// Returns false when cancelled because the connection ended first.
inline asio::awaitable<bool> watch_deadline(const deadline& d) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    if (d.expired()) co_return true;
    // When no deadline is set, re-check now and then: a reader may set one at any time.
    auto next = d.at();
    auto soon = deadline::clock::now() + std::chrono::seconds(1);
    timer.expires_at(next < soon ? next : soon);
    auto [ec] = co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return false;
  }
}

}  // namespace sockit::session
