// chat_event_queue: order, drops counted and reported where they happened, never blocking
// the producer, and close() giving up on a stuck consumer.
#include "sockit/service/chat_event_queue.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sockit::service {
namespace {

chat_event message(int i) {
  chat_event e{chat_event::type::message,
               std::chrono::system_clock::now(),
               "n",
               {},
               "#r",
               std::to_string(i),
               {}};
  return e;
}

// A consumer the test can hold up, like a pipe nobody reads.
struct gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  bool entered = false;
  void wait() {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
  }
  void wait_entered() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered; });
  }
  void release() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
};

TEST(ChatEventQueue, DeliversEveryEventInOrder) {
  std::vector<std::string> seen;
  {
    chat_event_queue q(
        1000, [&](const chat_event& e) { seen.push_back(e.text); },
        [&](std::uint64_t) { seen.push_back("dropped"); });
    for (int i = 0; i < 500; ++i) ASSERT_TRUE(q.push(message(i)));
    EXPECT_TRUE(q.close());
    EXPECT_EQ(q.dropped(), 0u);
  }
  ASSERT_EQ(seen.size(), 500u);
  for (int i = 0; i < 500; ++i) EXPECT_EQ(seen[i], std::to_string(i));
}

TEST(ChatEventQueue, AFullQueueDropsWithoutBlockingAndReportsTheGapInPlace) {
  gate g;
  std::vector<std::string> seen;
  chat_event_queue q(
      4,
      [&](const chat_event& e) {
        if (e.text == "0") g.wait();  // the consumer is stuck on the first event
        seen.push_back(e.text);
      },
      [&](std::uint64_t n) { seen.push_back("dropped " + std::to_string(n)); });
  ASSERT_TRUE(q.push(message(0)));
  g.wait_entered();  // taken off the queue, stuck in the consumer
  auto start = std::chrono::steady_clock::now();
  int accepted = 0;
  for (int i = 1; i <= 1000; ++i) accepted += q.push(message(i)) ? 1 : 0;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(accepted, 4);
  EXPECT_EQ(q.dropped(), 996u);
  g.release();
  // Room again once the consumer moves on; the gap is reported just before this one.
  for (int tries = 0; tries < 5000 && !q.push(message(2000)); ++tries)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(q.close());
  std::vector<std::string> want = {"0", "1", "2", "3", "4"};
  want.push_back("dropped " + std::to_string(q.dropped()));
  want.push_back("2000");
  EXPECT_EQ(seen, want);
}

TEST(ChatEventQueue, CloseGivesUpOnAStuckConsumer) {
  auto g = std::make_shared<gate>();
  {
    chat_event_queue q(
        8, [g](const chat_event&) { g->wait(); }, nullptr);
    ASSERT_TRUE(q.push(message(1)));
    g->wait_entered();
    EXPECT_FALSE(q.close(std::chrono::milliseconds(50)));
    EXPECT_FALSE(q.push(message(2)));  // closed
  }                                    // the destructor does not hang either (its grace is bounded)
  g->release();                        // the detached consumer finishes on its own
}

}  // namespace
}  // namespace sockit::service
