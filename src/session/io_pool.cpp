// io_pool implementation.
#include "sockit/session/io_pool.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <optional>

namespace sockit::session {

struct io_pool::loop {
  asio::io_context context{1};  // concurrency hint 1: one thread per loop, no internal locking
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{
      context.get_executor()};
};

unsigned default_thread_count() noexcept {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

io_pool::io_pool(unsigned threads) {
  if (threads == 0) threads = default_thread_count();
  loops_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) loops_.push_back(std::make_unique<loop>());
}

io_pool::~io_pool() {
  stop();
  join();
}

asio::io_context& io_pool::context(unsigned index) noexcept {
  return loops_[index % loops_.size()]->context;
}

asio::io_context& io_pool::next() noexcept {
  return context(next_.fetch_add(1, std::memory_order_relaxed));
}

void io_pool::start() {
  for (auto& l : loops_) {
    threads_.emplace_back([this, ctx = &l->context] {
      // A handler that throws must not end the loop (and with it every connection on it):
      // count it and keep running. run() returns normally once the loop is out of work.
      for (;;) {
        try {
          ctx->run();
          return;
        } catch (...) {
          exceptions_.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
}

void io_pool::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void io_pool::release() noexcept {
  for (auto& l : loops_) {
    asio::post(l->context, [l = l.get()] { l->work.reset(); });
  }
}

void io_pool::stop() noexcept {
  for (auto& l : loops_) l->context.stop();
}

}  // namespace sockit::session
