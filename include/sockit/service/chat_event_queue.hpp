// chat_event_queue: hands chat_server events from the room's thread to a consumer thread
// through a bounded queue, so a slow consumer (a log on a pipe nobody drains) never stalls
// the room; events that do not fit are counted and reported, never waited for.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "sockit/service/chat.hpp"

namespace sockit::service {

class chat_event_queue {
 public:
  /// Called on the consumer thread, in order: one event at a time, and before the next
  /// event that fits after a run of dropped ones, how many were dropped.
  using consumer = std::function<void(const chat_event&)>;
  using drop_reporter = std::function<void(std::uint64_t dropped)>;

  /// Starts the consumer thread. `capacity` is the most events waiting (at least 1).
  chat_event_queue(std::size_t capacity, consumer on_event, drop_reporter on_dropped);
  /// close() with a 2 s grace, unless close() was called already.
  ~chat_event_queue();
  chat_event_queue(const chat_event_queue&) = delete;
  chat_event_queue& operator=(const chat_event_queue&) = delete;

  /// Never blocks. Returns false, and counts the event as dropped, when the queue is full or
  /// closed. Safe from any thread.
  bool push(const chat_event& event);

  /// Takes no more events and lets the consumer finish what is queued for up to `grace`.
  /// Returns true when it did (the thread has ended); false when the consumer is stuck (in a
  /// write that does not return, say): the thread is then left to finish on its own, and
  /// owns everything it needs. Safe to call more than once.
  bool close(std::chrono::milliseconds grace = std::chrono::seconds(2));

  /// Events dropped so far (full or closed). Safe from any thread.
  std::uint64_t dropped() const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace sockit::service
