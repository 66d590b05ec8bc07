// write_queue: a bounded per-connection outgoing queue drained by exactly one writer
// coroutine, so a socket never has two writes in flight (Asio's chat_server writer()).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace sockit::session {

/// One outgoing message. Shared so that a broadcast to a thousand members holds one copy.
using shared_message = std::shared_ptr<const std::string>;

/// Thread-safety: none. Every member function, and run(), must be used on the stream's
/// executor (one loop, or one strand).
/// Lifetime: the queue references `stream`, which must outlive it; run() references the
/// queue, so whoever co_spawns run() keeps the queue alive until run() completes (the chat
/// member does this with shared_from_this()).
template <class AsyncStream>
class write_queue {
 public:
  /// `max_bytes` bounds the bytes queued or being written (not yet taken by the kernel).
  write_queue(AsyncStream& stream, std::size_t max_bytes)
      : stream_(stream), timer_(stream.get_executor()), max_bytes_(max_bytes) {
    timer_.expires_at(asio::steady_timer::time_point::max());
  }
  write_queue(const write_queue&) = delete;
  write_queue& operator=(const write_queue&) = delete;

  /// Queues `msg` unless that would exceed the bound or the queue is closed; returns false
  /// then and queues nothing (the caller decides what to do with a reader that is too slow).
  bool push(shared_message msg) {
    if (closing_ || msg->size() > max_bytes_ - queued_bytes_) return false;
    queued_bytes_ += msg->size();
    queue_.push_back(std::move(msg));
    timer_.cancel();  // wakes the writer if it is idle
    return true;
  }

  /// The writer: writes queued messages (several per write when they pile up) until
  /// close() has been called and the queue is empty, abort() is called, or a write fails.
  /// Completes with the write error, or an empty code. Start it exactly once.
  asio::awaitable<std::error_code> run() {
    constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);
    std::vector<asio::const_buffer> batch;
    std::vector<shared_message> inflight;
    while (!aborted_) {
      if (queue_.empty()) {
        if (closing_) co_return std::error_code{};
        co_await timer_.async_wait(token);  // cancelled by push(), close() or abort()
        continue;
      }
      // Gather what is queued (bounded) into one gathered write: fewer syscalls at scale.
      // The batch owns its messages, so abort() may clear the queue during the write.
      batch.clear();
      inflight.clear();
      std::size_t bytes = 0;
      while (!queue_.empty() && inflight.size() < max_batch) {
        bytes += queue_.front()->size();
        inflight.push_back(std::move(queue_.front()));
        queue_.pop_front();
        batch.push_back(asio::buffer(*inflight.back()));
      }
      auto [ec, written] = co_await asio::async_write(stream_, batch, token);
      if (ec) {
        aborted_ = closing_ = true;
        co_return ec;
      }
      if (!aborted_) queued_bytes_ -= bytes;  // abort() already zeroed the count
      ++writes_;
    }
    co_return make_error_code(asio::error::operation_aborted);
  }

  /// No more pushes; run() completes once what is queued has been written.
  void close() {
    closing_ = true;
    timer_.cancel();
  }
  /// Stops the writer at its next wake-up and drops what is queued. The caller cancels or
  /// closes the stream itself if a write is in flight.
  void abort() {
    aborted_ = closing_ = true;
    queue_.clear();
    queued_bytes_ = 0;
    timer_.cancel();
  }

  std::size_t queued_bytes() const noexcept { return queued_bytes_; }
  /// Messages waiting behind the write in flight.
  std::size_t queued_messages() const noexcept { return queue_.size(); }
  std::size_t max_bytes() const noexcept { return max_bytes_; }
  bool closed() const noexcept { return closing_; }
  /// Number of completed (possibly gathered) writes; for tests and statistics.
  std::size_t writes() const noexcept { return writes_; }

  static constexpr std::size_t max_batch = 64;

 private:
  AsyncStream& stream_;
  asio::steady_timer timer_;
  std::deque<shared_message> queue_;
  std::size_t max_bytes_;
  std::size_t queued_bytes_ = 0;
  std::size_t writes_ = 0;
  bool closing_ = false;
  bool aborted_ = false;
};

}  // namespace sockit::session
