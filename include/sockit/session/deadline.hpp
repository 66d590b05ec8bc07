// Per-connection deadline: one time point that readers move (absolute for a frame header,
// rolling for body inactivity) and one watchdog coroutine that fires when it passes. Moving
// the deadline later costs a clock read, not a timer operation, so it is cheap per frame:
// the watchdog sleeps until the time it last saw and, woken early, sleeps again until the
// new one. Only a deadline moved earlier than that (set after none) wakes it, once.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/cancellation_state.hpp>
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

  deadline() = default;
  deadline(const deadline&) = delete;
  deadline& operator=(const deadline&) = delete;

  /// No deadline until one is set.
  void clear() noexcept { at_ = clock::time_point::max(); }
  void expires_at(clock::time_point t) noexcept {
    at_ = t;
    if (watcher_ != nullptr && t < armed_) wake_watcher();
  }
  /// A zero or negative duration means "no deadline".
  void expires_after(clock::duration d) noexcept {
    if (d.count() > 0) {
      expires_at(clock::now() + d);
    } else {
      clear();
    }
  }
  clock::time_point at() const noexcept { return at_; }
  bool expired() const noexcept { return at_ != clock::time_point::max() && clock::now() >= at_; }

 private:
  friend asio::awaitable<bool> watch_deadline(deadline& d);

  void wake_watcher() noexcept {
    woken_ = true;
    armed_ = clock::time_point::min();  // one wake is enough until it re-arms
    watcher_->cancel();
  }

  clock::time_point at_ = clock::time_point::max();
  // The watchdog's timer while one runs, and the time it is set for.
  asio::steady_timer* watcher_ = nullptr;
  clock::time_point armed_ = clock::time_point::max();
  bool woken_ = false;  // the timer was cancelled by a move, not by the connection ending
};

/// Completes (returns true) once `d` has passed. Run it with awaitable_operators `||` beside
/// the connection's loop, so the loop's pending read or write is cancelled when it fires.
/// Returns false when cancelled because the connection ended first.
inline asio::awaitable<bool> watch_deadline(deadline& d) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  struct registration {
    deadline& d;
    ~registration() { d.watcher_ = nullptr; }
  } reg{d};
  d.watcher_ = &timer;
  for (;;) {
    if (d.expired()) co_return true;
    d.armed_ = d.at();
    d.woken_ = false;
    timer.expires_at(d.armed_);
    auto [ec] = co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (!ec) continue;  // the time it slept for passed: expired, or moved later
    if (!d.woken_) co_return false;
    // Woken by a move, but the connection may have ended in the same turn.
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return false;
  }
}

}  // namespace sockit::session
