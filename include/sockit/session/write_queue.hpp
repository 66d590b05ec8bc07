// write_queue: a bounded per-connection outgoing queue drained by exactly one writer
// coroutine, so a socket never has two writes in flight (Asio's chat_server writer()).
#pragma once

#include <algorithm>
#include <array>
#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "sockit/session/flush_pass.hpp"

namespace sockit::session {

/// One outgoing message. Shared so that a broadcast to a thousand members holds one copy.
using shared_message = std::shared_ptr<const std::string>;

/// Told when a write_queue's writer coroutine starts and finishes a write (the chat room
/// paces its readers by its TLS members' writes, which the flush pass cannot do for them).
class write_observer {
 public:
  virtual void write_started() = 0;
  virtual void write_finished() = 0;

 protected:
  ~write_observer() = default;
};

/// Thread-safety: none. Every member function, and run(), must be used on the stream's
/// executor (one loop, or one strand).
/// Lifetime: the queue references `stream`, which must outlive it; run() references the
/// queue, so whoever co_spawns run() keeps the queue alive until run() completes (the chat
/// member does this with shared_from_this()).
template <class AsyncStream>
class write_queue final : detail::flushable {
 public:
  /// `max_bytes` bounds the bytes queued or being written (not yet taken by the kernel).
  /// Direct writes go out in `pass` (one per loop; pushes must stop once it is gone).
  write_queue(AsyncStream& stream, std::size_t max_bytes, flush_pass& pass)
      : stream_(stream),
        timer_(stream.get_executor()),
        max_bytes_(max_bytes),
        pass_(&pass),
        pass_token_(pass.token()) {
    timer_.expires_at(asio::steady_timer::time_point::max());
  }
  ~write_queue() {
    if (!flush_posted_) return;
    if (auto pass = pass_token_.lock()) (*pass)->forget(this);
  }
  write_queue(const write_queue&) = delete;
  write_queue& operator=(const write_queue&) = delete;

  /// Queues `msg` unless that would exceed the bound or the queue is closed; returns false
  /// then and queues nothing (the caller decides what to do with a reader that is too slow).
  /// With a non-blocking socket and no write in progress, the queue joins the loop's next
  /// flush pass instead of waking the writer coroutine: the pass hands everything pushed
  /// during this turn to the kernel in one non-blocking write (no coroutine switch, and a
  /// broadcast burst costs one syscall per member). Whatever the kernel does not take is
  /// left to the writer, so there is never more than one write in progress.
  bool push(shared_message msg) {
    if (closing_ || msg->size() > max_bytes_ - queued_bytes_) return false;
    queued_bytes_ += msg->size();
    queue_.push_back(std::move(msg));
    if (writing_) return true;  // the writer takes it after its current write
    if (can_write_now()) {
      if (!flush_posted_) {
        flush_posted_ = true;
        pass_->add(this);
      }
    } else {
      timer_.cancel();  // wakes the writer if it is idle
    }
    return true;
  }

  /// The writer: writes queued messages (several per write when they pile up) until
  /// close() has been called and the queue is empty, abort() is called, or a write fails.
  /// Completes with the write error, or an empty code. Start it exactly once.
  asio::awaitable<std::error_code> run() {
    constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);
    // What is queued is copied into one buffer of up to flat_bytes and written at once:
    // Asio passes at most 16-64 buffers to one sendmsg, so a pile of short lines written
    // as a gathered write would cost a syscall (and a wake-up of the reader) per few lines.
    // The copy also lets abort() clear the queue during the write.
    std::string chunk;
    while (!aborted_) {
      if (queue_.empty()) {
        if (closing_) co_return std::error_code{};
        if (chunk.capacity() > 4096) std::string().swap(chunk);  // idle: keep no big buffer
        co_await timer_.async_wait(token);  // cancelled by push(), close() or abort()
        continue;
      }
      chunk.clear();
      take(chunk);
      writing_ = true;
      if (observer_) observer_->write_started();
      auto [ec, written] = co_await asio::async_write(stream_, asio::buffer(chunk), token);
      writing_ = false;
      if (observer_) observer_->write_finished();
      if (ec) {
        aborted_ = closing_ = true;
        co_return ec;
      }
      if (!aborted_) queued_bytes_ -= chunk.size();  // abort() already zeroed the count
      written_ += chunk.size();
      ++writes_;
    }
    co_return make_error_code(asio::error::operation_aborted);
  }

  /// `o` (which must outlive the writer) is told of each write the writer coroutine makes.
  void observe(write_observer* o) noexcept { observer_ = o; }

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
    front_offset_ = 0;
    timer_.cancel();
  }

  /// Drops the messages no write has begun on; the rest of one a write began stays, so the
  /// stream is still at a message boundary when the next push is written (a chat member
  /// being dropped gets its goodbye on a line of its own).
  void discard_unsent() {
    std::size_t keep = front_offset_ != 0 ? 1 : 0;
    for (std::size_t i = keep; i < queue_.size(); ++i) queued_bytes_ -= queue_[i]->size();
    queue_.resize(std::min(keep, queue_.size()));
  }

  std::size_t queued_bytes() const noexcept { return queued_bytes_; }
  /// Bytes the stream has taken so far: a reader making progress moves it.
  std::uint64_t written() const noexcept { return written_; }
  /// Messages waiting behind the write in flight.
  std::size_t queued_messages() const noexcept { return queue_.size(); }
  std::size_t max_bytes() const noexcept { return max_bytes_; }
  bool closed() const noexcept { return closing_; }
  /// Completed (possibly gathered) writes by the writer coroutine, and by posted flushes;
  /// for tests and statistics.
  std::size_t writes() const noexcept { return writes_; }
  std::size_t direct_writes() const noexcept { return direct_writes_; }

  /// Bytes per write (at least one whole message): a burst of short lines moves in as few
  /// writes as the kernel allows.
  static constexpr std::size_t flat_bytes = 64 * 1024;
  /// Messages per write, at most.
  static constexpr std::size_t max_batch = 1024;
  /// Up to this many messages, a flush writes them where they are (a gathered write)
  /// instead of copying them into one buffer.
  static constexpr std::size_t max_gather = 8;

 private:
  static constexpr bool has_sync_write = requires(AsyncStream & st, std::error_code& ec) {
    { st.non_blocking() } -> std::convertible_to<bool>;
    st.write_some(asio::const_buffer{}, ec);
  };

  // Copies the front of the queue (up to flat_bytes, at least one message) into `out`
  // without taking it off the queue; returns how many messages it copied.
  std::size_t copy_front(std::string& out) const {
    std::size_t i = 0;
    for (; i < queue_.size() && i < max_batch && (i == 0 || out.size() < flat_bytes); ++i)
      out.append(*queue_[i], i == 0 ? front_offset_ : 0);
    return i;
  }
  // The same, then takes those messages off the queue (the writer's batch).
  void take(std::string& out) {
    std::size_t n = copy_front(out);
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    front_offset_ = 0;
  }

  // Only streams with a synchronous write_some that their owner made non-blocking.
  bool can_write_now() const {
    if constexpr (has_sync_write) {
      return stream_.non_blocking();
    } else {
      return false;
    }
  }

  // Called by the pass: one non-blocking write of what is queued. The rest, and any error,
  // is left to the writer coroutine.
  std::size_t flush_now() override {
    flush_posted_ = false;
    std::size_t handed = 0;
    if constexpr (has_sync_write) {
      if (writing_ || aborted_ || queue_.empty()) return 0;
      std::error_code ec;
      std::size_t n = 0;
      if (queue_.size() <= max_gather) {
        // A few messages (a chat room hands each member one per pass, however many lines it
        // holds): written from where they are, without a copy.
        std::array<asio::const_buffer, max_gather> parts;
        for (std::size_t i = 0; i < queue_.size(); ++i)
          parts[i] = asio::buffer(*queue_[i]) + (i == 0 ? front_offset_ : 0);
        handed = queue_.size();
        n = stream_.write_some(std::span<const asio::const_buffer>(parts.data(), handed), ec);
      } else {
        // Many short messages: copied into one buffer, for the reason run() gives. One
        // buffer per thread, not per queue: flushes never nest, and an idle member keeps none.
        thread_local std::string flat;
        flat.clear();
        handed = copy_front(flat);
        n = stream_.write_some(asio::buffer(flat), ec);
      }
      if (!ec) {
        ++direct_writes_;
        queued_bytes_ -= n;
        written_ += n;
        while (n != 0) {
          std::size_t left = queue_.front()->size() - front_offset_;
          if (n < left) {
            front_offset_ += n;
            break;
          }
          n -= left;
          front_offset_ = 0;
          queue_.pop_front();
        }
      }
      if (!queue_.empty() || closing_) timer_.cancel();  // the writer takes over
    }
    return handed;
  }

  AsyncStream& stream_;
  asio::steady_timer timer_;
  std::deque<shared_message> queue_;
  std::size_t max_bytes_;
  flush_pass* pass_;
  std::weak_ptr<flush_pass*> pass_token_;  // tells the destructor whether pass_ is still there
  std::size_t queued_bytes_ = 0;
  std::size_t writes_ = 0;
  std::uint64_t written_ = 0;
  write_observer* observer_ = nullptr;
  std::size_t direct_writes_ = 0;
  std::size_t front_offset_ = 0;  // bytes of queue_.front() that a flush already wrote
  bool flush_posted_ = false;
  bool writing_ = false;  // the writer coroutine has a write in progress
  bool closing_ = false;
  bool aborted_ = false;
};

}  // namespace sockit::session
