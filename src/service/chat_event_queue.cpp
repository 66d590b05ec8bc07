// chat_event_queue: a mutex-guarded ring of events and one consumer thread. The state is
// shared with the thread, so close() may give up on a stuck consumer without a dangling
// reference.
#include "sockit/service/chat_event_queue.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace sockit::service {

struct chat_event_queue::state {
  std::size_t capacity;
  consumer on_event;
  drop_reporter on_dropped;
  std::mutex mu;
  std::condition_variable ready;     // an event, or closing
  std::condition_variable finished;  // the consumer thread is done
  struct entry {
    std::uint64_t dropped_before;  // events dropped between the previous entry and this one
    chat_event event;
  };
  std::deque<entry> events;
  std::uint64_t gap = 0;  // dropped since the last entry queued
  std::atomic<std::uint64_t> dropped{0};
  bool closing = false;
  bool done = false;

  void run() {
    std::unique_lock lock(mu);
    for (;;) {
      ready.wait(lock, [&] { return !events.empty() || closing; });
      if (events.empty()) {  // closing and drained: drops after the last event, if any
        std::uint64_t n = std::exchange(gap, 0);
        lock.unlock();
        if (n != 0 && on_dropped) on_dropped(n);
        lock.lock();
        break;
      }
      entry e = std::move(events.front());
      events.pop_front();
      lock.unlock();
      if (e.dropped_before != 0 && on_dropped) on_dropped(e.dropped_before);
      if (on_event) on_event(e.event);
      lock.lock();
    }
    done = true;
    finished.notify_all();
  }
};

chat_event_queue::chat_event_queue(std::size_t capacity, consumer on_event,
                                   drop_reporter on_dropped)
    : state_(std::make_shared<state>()) {
  state_->capacity = std::max<std::size_t>(capacity, 1);
  state_->on_event = std::move(on_event);
  state_->on_dropped = std::move(on_dropped);
  std::thread([s = state_] { s->run(); }).detach();
}

chat_event_queue::~chat_event_queue() {
  {
    std::lock_guard lock(state_->mu);
    if (state_->closing) return;  // closed already: do not wait for a stuck consumer again
  }
  close();
}

bool chat_event_queue::push(const chat_event& event) {
  auto& s = *state_;
  {
    std::lock_guard lock(s.mu);
    if (!s.closing && s.events.size() < s.capacity) {
      // Drops are reported just before the next event that fits, where the gap is.
      s.events.push_back({std::exchange(s.gap, 0), event});
      s.ready.notify_one();
      return true;
    }
    if (!s.closing) ++s.gap;
  }
  s.dropped.fetch_add(1, std::memory_order_relaxed);
  return false;
}

bool chat_event_queue::close(std::chrono::milliseconds grace) {
  auto& s = *state_;
  std::unique_lock lock(s.mu);
  s.closing = true;
  s.ready.notify_one();
  return s.finished.wait_for(lock, grace, [&] { return s.done; });
}

std::uint64_t chat_event_queue::dropped() const {
  return state_->dropped.load(std::memory_order_relaxed);
}

}  // namespace sockit::service
