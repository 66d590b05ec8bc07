// io_pool: one Asio event loop per thread, sized to the machine. A connection lives on one
// loop for its whole life, so its handlers never run concurrently and need no locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace asio {
class io_context;
}

namespace sockit::session {

class io_pool {
 public:
  /// `threads` == 0 means one loop per hardware thread.
  explicit io_pool(unsigned threads = 0);
  ~io_pool();
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  unsigned size() const noexcept { return static_cast<unsigned>(loops_.size()); }
  asio::io_context& context(unsigned index) noexcept;
  /// Round-robin choice of a loop for a new connection. Safe to call from any thread.
  asio::io_context& next() noexcept;

  /// Runs every loop on its own thread and returns at once.
  void start();
  /// Blocks until every loop has returned (after release() and the work ran out, or stop()).
  void join();
  /// Lets loops return once they have no more work (graceful). Safe from any thread.
  void release() noexcept;
  /// Stops every loop now, abandoning pending handlers. Safe from any thread.
  void stop() noexcept;

  /// Exceptions that escaped a handler; each was caught and its loop kept running.
  std::uint64_t exceptions() const noexcept { return exceptions_.load(std::memory_order_relaxed); }

 private:
  struct loop;
  std::vector<std::unique_ptr<loop>> loops_;
  std::vector<std::thread> threads_;
  std::atomic<unsigned> next_{0};
  std::atomic<std::uint64_t> exceptions_{0};
};

/// The number of loops io_pool(0) creates.
unsigned default_thread_count() noexcept;

}  // namespace sockit::session
