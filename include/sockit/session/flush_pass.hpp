// flush_pass: batches the direct (non-blocking) writes of one loop turn into one pass that
// runs after the turn's other handlers, optionally paced when busy. write_queue is its user;
// anything with a flush_now() (detail::flushable) can join a pass.
#pragma once

#include <algorithm>
#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <system_error>
#include <vector>

namespace sockit::session {

namespace detail {
/// What a flush_pass calls; implemented by write_queue (and by test doubles). Returns how
/// many messages it handed to the kernel (so the pass can tell a busy turn from a quiet one).
class flushable {
 public:
  virtual std::size_t flush_now() = 0;

 protected:
  ~flushable() = default;
};
}  // namespace detail

/// Flushes, once per turn of a loop, every write_queue that was pushed to during it: the
/// first push of a turn posts one pass, which runs after everything the loop already had
/// queued (the other reads of that turn among it), so messages produced by several reads in
/// one turn reach each connection in one write, and a message fanned out to N connections
/// costs one posted handler rather than N. Under load, turns grow and so does the batching.
/// Thread-safety: none; use on one loop. The pass must be destroyed before its loop's
/// io_context; queues may outlive it.
class flush_pass {
 public:
  /// With `rest` > 0 the pass paces itself when it is busy: after a pass that took T and
  /// found at least two messages waiting per queue on average (messages arrive faster than
  /// passes go), the next one starts no sooner than rest x T after it ended. A loop with many
  /// busy queues then spends at most 1 / (1 + rest) of its thread in sends and each send
  /// carries more messages, at the cost of up to rest x T more latency. A quiet loop (one
  /// message per pass) or a small one (short passes) is never delayed.
  explicit flush_pass(asio::any_io_executor executor, double rest = 0)
      : executor_(executor), timer_(std::move(executor)), rest_(rest) {}
  flush_pass(const flush_pass&) = delete;
  flush_pass& operator=(const flush_pass&) = delete;

  /// Queues `q` for the next pass; a queue adds itself at most once per pass.
  void add(detail::flushable* q) {
    pending_.push_back(q);
    schedule();
  }

  /// Makes sure a pass is due, with or without queues (for a before_each hook that has
  /// something to hand out).
  void schedule() {
    if (posted_) return;
    posted_ = true;
    auto token = std::weak_ptr<flush_pass*>(self_);
    if (rest_ > 0) {
      auto ready = last_end_ + std::chrono::duration_cast<clock::duration>(last_took_ * rest_);
      if (ready - clock::now() > std::chrono::microseconds(20)) {
        ++paced_;
        timer_.expires_at(ready);
        timer_.async_wait([token](std::error_code) {
          if (auto self = token.lock()) (*self)->run();
        });
        return;
      }
    }
    asio::post(executor_, [token] {
      if (auto self = token.lock()) (*self)->run();
    });
  }

  /// `hook` runs at the start of every pass, before the queues are flushed: what it pushes
  /// goes out in that pass (an owner that batches its own output hands out the batch here).
  /// It returns how many items it queued beyond one per message, which counts toward the
  /// pace (a message that carries many items is as busy as many messages).
  void before_each(std::function<std::size_t()> hook) { before_ = std::move(hook); }

  /// Lets a queue find out whether the pass still exists (queues may outlive it: a loop's
  /// pending handlers, which hold them, go when the loop does).
  std::weak_ptr<flush_pass*> token() const noexcept { return self_; }

  /// Whether a pass is due (posted, or waiting to keep the pace).
  bool pending() const noexcept { return posted_; }

  /// Cancels `t` (wakes whoever waits on it) once the pending pass has run. Call only while
  /// pending(); `t` must stay alive until then. A reader that has produced its share of
  /// output for this turn waits so, and reads on once that output has gone out.
  void wake_after(asio::steady_timer* t) { waiters_.push_back(t); }

  /// A queue that is going away before its flush ran.
  void forget(detail::flushable* q) noexcept {
    for (auto* list : {&pending_, &running_})
      for (auto*& p : *list)
        if (p == q) p = nullptr;
  }

  /// Passes run, queues flushed by them, and passes that waited to keep the pace (for tests
  /// and statistics).
  std::size_t passes() const noexcept { return passes_; }
  std::size_t flushed() const noexcept { return flushed_; }
  std::size_t paced() const noexcept { return paced_; }

 private:
  using clock = std::chrono::steady_clock;

  void run() {
    ++passes_;
    const auto start = rest_ > 0 ? clock::now() : clock::time_point();
    // Still posted_ while the hook runs, so what it pushes joins this pass, not a new one.
    std::size_t messages = before_ ? before_() : 0;
    posted_ = false;
    running_.swap(pending_);
    std::size_t queues = 0;
    for (auto* q : running_) {
      if (q == nullptr) continue;
      ++queues;
      messages += q->flush_now();
    }
    flushed_ += queues;
    running_.clear();
    if (rest_ > 0) {
      last_end_ = clock::now();
      const bool busy = messages >= 2 * queues && queues != 0;
      last_took_ =
          busy ? std::min<clock::duration>(last_end_ - start, max_rest) : clock::duration{};
    }
    waking_.swap(waiters_);  // both keep their capacity: no allocation per pass
    for (auto* t : waking_) t->cancel();
    waking_.clear();
  }

  asio::any_io_executor executor_;
  asio::steady_timer timer_;
  double rest_;
  clock::time_point last_end_{};
  clock::duration last_took_{};
  // A pass that took long (thousands of queues on a busy machine) must not hold the next one
  // back as long again: the queues would fill meanwhile.
  static constexpr clock::duration max_rest = std::chrono::milliseconds(10);

  std::function<std::size_t()> before_;
  std::vector<detail::flushable*> pending_, running_;
  std::vector<asio::steady_timer*> waiters_, waking_;
  std::shared_ptr<flush_pass*> self_ = std::make_shared<flush_pass*>(this);
  bool posted_ = false;
  std::size_t passes_ = 0, flushed_ = 0, paced_ = 0;
};

}  // namespace sockit::session
