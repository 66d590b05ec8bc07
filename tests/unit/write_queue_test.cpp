// write_queue: order, the byte bound, one write in flight, gathering, close and abort.
#include "sockit/session/write_queue.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <memory>
#include <string>

#include "chat_test_stream.hpp"

namespace {

using sockit::session::shared_message;
using sockit::session::write_queue;
using sockit::test::chat_test_stream;

shared_message msg(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

struct fixture {
  asio::io_context io;
  chat_test_stream stream{io.get_executor()};
  sockit::session::flush_pass pass{io.get_executor()};
  write_queue<chat_test_stream> queue;
  bool done = false;
  std::error_code result;

  explicit fixture(std::size_t max_bytes) : queue(stream, max_bytes, pass) {}
  void start() {
    asio::co_spawn(
        io,
        [this]() -> asio::awaitable<void> {
          result = co_await queue.run();
          done = true;
        },
        asio::detached);
  }
};

TEST(WriteQueue, WritesEverythingInOrderWithShortWrites) {
  fixture f(1 << 20);
  f.stream.max_write = 3;
  f.start();
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    std::string line = "message " + std::to_string(i) + "\n";
    expected += line;
    ASSERT_TRUE(f.queue.push(msg(line)));
    if (i % 7 == 0) f.io.poll();  // interleave pushes with the writer's progress
  }
  f.queue.close();
  f.io.run();
  EXPECT_TRUE(f.done);
  EXPECT_FALSE(f.result);
  EXPECT_EQ(f.stream.output, expected);
  EXPECT_EQ(f.queue.queued_bytes(), 0u);
}

TEST(WriteQueue, BoundIsInBytesAndRefusesWithoutQueueing) {
  fixture f(10);
  f.stream.hold_writes = true;
  f.start();
  f.io.poll();
  EXPECT_TRUE(f.queue.push(msg("12345")));
  f.io.poll();  // the writer takes it and its write hangs; bytes stay counted until done
  EXPECT_TRUE(f.stream.write_held());
  EXPECT_TRUE(f.queue.push(msg("abcde")));
  EXPECT_EQ(f.queue.queued_bytes(), 10u);
  EXPECT_FALSE(f.queue.push(msg("x")));      // full: refused, nothing queued
  EXPECT_EQ(f.queue.queued_messages(), 1u);  // behind the one being written
  f.stream.max_write = 100;
  f.stream.release_writes();
  f.io.poll();
  EXPECT_EQ(f.stream.output, "12345abcde");
  EXPECT_TRUE(f.queue.push(msg("x")));  // room again once written
  f.queue.close();
  f.io.run();
  EXPECT_EQ(f.stream.output, "12345abcdex");
}

TEST(WriteQueue, OneWriteInFlightAndPileUpIsGathered) {
  fixture f(1 << 20);
  f.stream.hold_writes = true;
  f.stream.max_write = 1 << 20;
  f.start();
  ASSERT_TRUE(f.queue.push(msg("first\n")));
  f.io.poll();
  ASSERT_TRUE(f.stream.write_held());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(f.queue.push(msg("more\n")));
  f.io.poll();  // still the one held write: no second write was started
  EXPECT_EQ(f.stream.write_calls, 0u);
  f.stream.release_writes();
  f.queue.close();
  f.io.run();
  EXPECT_EQ(f.stream.write_calls, 2u);  // the ten piled-up messages went out in one write
  EXPECT_EQ(f.queue.writes(), 2u);
}

TEST(WriteQueue, CloseDrainsThenCompletes) {
  fixture f(100);
  f.start();
  f.queue.push(msg("bye\n"));
  f.queue.close();
  EXPECT_FALSE(f.queue.push(msg("late\n")));
  f.io.run();
  EXPECT_TRUE(f.done);
  EXPECT_FALSE(f.result);
  EXPECT_EQ(f.stream.output, "bye\n");
}

TEST(WriteQueue, AbortDropsQueuedAndStops) {
  fixture f(100);
  f.stream.hold_writes = true;
  f.start();
  f.queue.push(msg("one\n"));
  f.io.poll();
  f.queue.push(msg("two\n"));
  f.queue.abort();
  EXPECT_EQ(f.queue.queued_bytes(), 0u);
  f.stream.release_writes();
  f.io.run();
  EXPECT_TRUE(f.done);
  EXPECT_EQ(f.result, asio::error::operation_aborted);
  EXPECT_EQ(f.stream.output.find("two"), std::string::npos);
}

TEST(WriteQueue, WriteErrorEndsTheWriter) {
  fixture f(100);
  f.stream.write_error = asio::error::broken_pipe;
  f.start();
  f.queue.push(msg("x\n"));
  f.io.run();
  EXPECT_TRUE(f.done);
  EXPECT_EQ(f.result, asio::error::broken_pipe);
  EXPECT_FALSE(f.queue.push(msg("y\n")));  // a dead queue takes nothing more
}

TEST(WriteQueue, IdleWriterCostsNoWrites) {
  fixture f(100);
  f.start();
  f.io.poll();
  EXPECT_FALSE(f.done);
  EXPECT_EQ(f.stream.write_calls, 0u);
  f.queue.close();
  f.io.run();
  EXPECT_TRUE(f.done);
}

// Non-blocking streams: a posted flush writes what was pushed, in one gathered write.

TEST(WriteQueueDirect, IdleQueueFlushesWithoutTheWriter) {
  fixture f(100);
  f.stream.sync_writes = true;
  f.stream.max_write = 100;
  f.start();
  f.io.poll();
  ASSERT_TRUE(f.queue.push(msg("now\n")));
  ASSERT_TRUE(f.queue.push(msg("and this\n")));
  EXPECT_EQ(f.stream.output, "");  // the flush runs after this turn of the loop
  f.io.poll();
  EXPECT_EQ(f.stream.output, "now\nand this\n");
  EXPECT_EQ(f.stream.write_calls, 1u);  // both in one gathered write
  EXPECT_EQ(f.queue.direct_writes(), 1u);
  EXPECT_EQ(f.queue.queued_bytes(), 0u);
  f.queue.close();
  f.io.run();
  EXPECT_EQ(f.queue.writes(), 0u);
}

TEST(WriteQueueDirect, ShortDirectWritesQueueTheRestInOrder) {
  fixture f(1 << 20);
  f.stream.sync_writes = true;
  f.stream.max_write = 3;
  f.start();
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    std::string line = "line " + std::to_string(i) + "\n";
    expected += line;
    ASSERT_TRUE(f.queue.push(msg(line)));
    if (i % 5 == 0) f.io.poll();
  }
  f.queue.close();
  f.io.run();
  EXPECT_EQ(f.stream.output, expected);
  EXPECT_EQ(f.queue.queued_bytes(), 0u);
}

TEST(WriteQueueDirect, NoDirectWriteWhileTheWriterHasOneInFlight) {
  fixture f(1 << 20);
  f.stream.sync_writes = true;
  f.stream.hold_writes = true;
  f.start();
  f.io.poll();                            // the writer is idle, waiting
  ASSERT_TRUE(f.queue.push(msg("a\n")));  // the flush would block: left to the writer
  f.io.poll();
  EXPECT_EQ(f.stream.sync_attempts, 1u);
  ASSERT_TRUE(f.stream.write_held());
  f.stream.hold_writes = false;  // the kernel would take more now, but a write is in flight
  ASSERT_TRUE(f.queue.push(msg("b\n")));
  f.io.poll();
  EXPECT_EQ(f.stream.sync_attempts, 1u);
  EXPECT_EQ(f.stream.output, "");
  f.stream.max_write = 100;
  f.stream.release_writes();
  f.queue.close();
  f.io.run();
  EXPECT_EQ(f.stream.output, "a\nb\n");
}

TEST(WriteQueueDirect, BoundCountsOnlyWhatTheKernelDidNotTake) {
  fixture f(10);
  f.stream.sync_writes = true;
  f.stream.max_write = 4;
  f.start();
  f.io.poll();  // the writer is idle, waiting
  ASSERT_TRUE(f.queue.push(msg("0123456789")));
  EXPECT_EQ(f.queue.queued_bytes(), 10u);
  f.io.run_one();  // the flush: 4 written, 6 left
  EXPECT_EQ(f.queue.queued_bytes(), 6u);
  EXPECT_FALSE(f.queue.push(msg("abcde")));  // 6 + 5 > 10
  EXPECT_TRUE(f.queue.push(msg("abcd")));
  f.queue.close();
  f.io.run();
  EXPECT_EQ(f.stream.output, "0123456789abcd");
}

// A member being dropped: what no write has begun on goes, the rest of a message the
// kernel took part of stays, so the goodbye pushed next starts on a line of its own.
TEST(WriteQueueDirect, DiscardUnsentKeepsTheRestOfAPartlyWrittenMessage) {
  fixture f(1 << 20);
  f.stream.sync_writes = true;
  f.stream.max_write = 4;
  f.start();
  f.io.poll();
  ASSERT_TRUE(f.queue.push(msg("first line\n")));
  ASSERT_TRUE(f.queue.push(msg("second line\n")));
  ASSERT_TRUE(f.queue.push(msg("third line\n")));
  f.io.run_one();               // the flush: "firs" written
  f.stream.hold_writes = true;  // and the kernel takes nothing more for now
  EXPECT_EQ(f.queue.written(), 4u);
  f.queue.discard_unsent();
  EXPECT_EQ(f.queue.queued_bytes(), std::string("t line\n").size());
  ASSERT_TRUE(f.queue.push(msg("bye\n")));
  f.queue.close();
  f.stream.max_write = 100;
  f.stream.hold_writes = false;
  f.stream.release_writes();
  f.io.run();
  EXPECT_EQ(f.stream.output, "first line\nbye\n");
  EXPECT_EQ(f.queue.written(), f.stream.output.size());
}

// Nothing begun: everything queued goes.
TEST(WriteQueueDirect, DiscardUnsentAtABoundaryDropsEverything) {
  fixture f(1 << 20);
  f.stream.hold_writes = true;
  f.start();
  f.io.poll();
  ASSERT_TRUE(f.queue.push(msg("a\n")));
  ASSERT_TRUE(f.queue.push(msg("b\n")));
  f.queue.discard_unsent();
  EXPECT_EQ(f.queue.queued_bytes(), 0u);
  ASSERT_TRUE(f.queue.push(msg("bye\n")));
  f.queue.close();
  f.stream.hold_writes = false;
  f.stream.release_writes();
  f.io.run();
  EXPECT_EQ(f.stream.output, "bye\n");
}

// A flush_pass batches the direct writes of one loop turn: one posted pass for every queue
// pushed to, one gathered write per queue with everything pushed to it in that turn.
TEST(WriteQueuePass, OnePassPerTurnAndOneWritePerQueue) {
  asio::io_context io;
  sockit::session::flush_pass pass(io.get_executor());
  chat_test_stream a(io.get_executor()), b(io.get_executor());
  for (auto* s : {&a, &b}) {
    s->sync_writes = true;
    s->max_write = 1000;
  }
  write_queue<chat_test_stream> qa(a, 1000, pass), qb(b, 1000, pass);
  for (std::string line : {"one\n", "two\n", "three\n"}) {
    ASSERT_TRUE(qa.push(msg(line)));
    ASSERT_TRUE(qb.push(msg(line)));
  }
  EXPECT_EQ(a.sync_attempts + b.sync_attempts, 0u) << "nothing is written before the pass";
  io.poll();
  EXPECT_EQ(pass.passes(), 1u);
  EXPECT_EQ(pass.flushed(), 2u);
  EXPECT_EQ(a.sync_attempts, 1u);
  EXPECT_EQ(b.sync_attempts, 1u);
  EXPECT_EQ(a.output, "one\ntwo\nthree\n");
  EXPECT_EQ(b.output, "one\ntwo\nthree\n");
  ASSERT_TRUE(qa.push(msg("four\n")));  // a later turn: a second pass
  io.restart();                         // poll() stopped the context when it ran out of work
  io.poll();
  EXPECT_EQ(pass.passes(), 2u);
  EXPECT_EQ(a.output, "one\ntwo\nthree\nfour\n");
}

TEST(WriteQueuePass, QueueDestroyedBeforeThePassRunsIsSkipped) {
  asio::io_context io;
  sockit::session::flush_pass pass(io.get_executor());
  chat_test_stream a(io.get_executor()), b(io.get_executor());
  a.sync_writes = b.sync_writes = true;
  a.max_write = b.max_write = 100;
  write_queue<chat_test_stream> kept(b, 100, pass);
  {
    write_queue<chat_test_stream> gone(a, 100, pass);
    ASSERT_TRUE(gone.push(msg("lost\n")));
    ASSERT_TRUE(kept.push(msg("kept\n")));
  }
  io.poll();
  EXPECT_EQ(a.sync_attempts, 0u);
  EXPECT_EQ(pass.flushed(), 1u);
  EXPECT_EQ(b.output, "kept\n");
}

// A pass goes before its loop, and the queues a loop still holds go with the loop: they may
// outlive the pass, even with a flush pending in it.
TEST(WriteQueuePass, QueuesMayOutliveTheirPass) {
  asio::io_context io;
  chat_test_stream a(io.get_executor());
  a.sync_writes = true;
  a.max_write = 100;
  std::optional<write_queue<chat_test_stream>> q;
  {
    sockit::session::flush_pass pass(io.get_executor());
    q.emplace(a, 100, pass);
    ASSERT_TRUE(q->push(msg("never\n")));
  }
  q.reset();  // must not reach into the pass
  io.run();   // the pass's posted run finds it gone
  EXPECT_EQ(a.sync_attempts, 0u);
}

// A reader that has had its share waits for the pass: wake_after() cancels its timer once
// the pending pass has run, after the queues were flushed.
TEST(WriteQueuePass, WakeAfterRunsOnceThePassHasFlushed) {
  asio::io_context io;
  sockit::session::flush_pass pass(io.get_executor());
  chat_test_stream a(io.get_executor());
  a.sync_writes = true;
  a.max_write = 100;
  write_queue<chat_test_stream> q(a, 100, pass);
  EXPECT_FALSE(pass.pending());
  ASSERT_TRUE(q.push(msg("line\n")));
  ASSERT_TRUE(pass.pending());
  asio::steady_timer wait(io);
  wait.expires_at(asio::steady_timer::time_point::max());
  pass.wake_after(&wait);
  std::string seen_at_wake = "not woken";
  wait.async_wait([&](std::error_code ec) {
    EXPECT_EQ(ec, asio::error::operation_aborted);
    seen_at_wake = a.output;
  });
  io.run();
  EXPECT_EQ(seen_at_wake, "line\n");
  EXPECT_FALSE(pass.pending());
}

// One queue on a non-blocking stream that takes everything: what the flush pass writes.
struct direct_fixture {
  explicit direct_fixture(double rest = 0) : pass(io.get_executor(), rest) {
    a.sync_writes = true;
    a.max_write = 1 << 20;
  }
  asio::io_context io;
  sockit::session::flush_pass pass;
  chat_test_stream a{io.get_executor()};
  write_queue<chat_test_stream> q{a, 1 << 20, pass};
};

// Writes are copied into one buffer, so a pile of short messages goes out in one write
// (Asio would pass only 16-64 buffers of a gathered write to one sendmsg).
TEST(WriteQueuePass, AThousandShortMessagesGoInOneWrite) {
  direct_fixture f;
  auto& [io, pass, a, q] = f;
  std::string expected;
  for (int i = 0; i < 1000; ++i) {
    std::string line = std::to_string(i) + "\n";
    expected += line;
    ASSERT_TRUE(q.push(msg(line)));
  }
  io.run();
  EXPECT_EQ(a.output, expected);
  EXPECT_EQ(a.sync_attempts, 1u);
  EXPECT_EQ(q.queued_bytes(), 0u);
}

// A few messages (a chat room's one hand-out per member per pass, plus maybe a reply) go out
// as one gathered write; a short write leaves the rest, from the right byte, to the writer.
TEST(WriteQueuePass, AFewMessagesGoInOneGatheredWriteAndAShortOneResumesMidMessage) {
  direct_fixture f;
  auto& [io, pass, a, q] = f;
  ASSERT_TRUE(q.push(msg("first\n")));
  ASSERT_TRUE(q.push(msg(std::string(100000, 'x') + "\n")));  // bigger than a flat write
  ASSERT_TRUE(q.push(msg("last\n")));
  io.poll();
  EXPECT_EQ(a.sync_attempts, 1u);
  EXPECT_EQ(a.output, "first\n" + std::string(100000, 'x') + "\nlast\n");
  EXPECT_EQ(q.queued_bytes(), 0u);

  a.output.clear();
  a.max_write = 6;  // the kernel takes only "one\ntw": the writer goes on from "o\n"
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await f.q.run();  // f.q: clang before 16 cannot capture a structured binding
        done = true;
      },
      asio::detached);
  io.restart();
  io.poll();  // the writer starts and waits
  ASSERT_TRUE(q.push(msg("one\n")));
  ASSERT_TRUE(q.push(msg("two\n")));
  ASSERT_TRUE(q.push(msg("three\n")));
  q.close();
  io.restart();
  io.run();
  EXPECT_TRUE(done);
  EXPECT_EQ(a.output, "one\ntwo\nthree\n");
  EXPECT_EQ(a.sync_attempts, 2u) << "one direct write per pass; the rest went to the writer";
}

// The before_each hook runs at the start of every pass; what it pushes goes out in that same
// pass (schedule() asks for a pass with no queue yet), and the lines it reports beyond one
// per message make a pass busy, so the next one keeps the pace.
TEST(WriteQueuePass, BeforeEachHookPushesGoOutInThatPassAndCountTowardThePace) {
  direct_fixture f(1.0);
  auto& [io, pass, a, q] = f;
  std::string said;  // what the "room" has to hand out
  std::size_t hooks = 0;
  pass.before_each([&]() -> std::size_t {
    ++hooks;
    if (said.empty()) return 0;
    EXPECT_TRUE(f.q.push(msg(said)));
    said.clear();
    // Longer than the 10 ms cap on a rest, so busy means a 10 ms wait: only a test thread
    // held up longer than that could miss it.
    auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(12)) {
    }
    return 9;  // ten lines in the one message
  });
  said = "a\nb\n";
  pass.schedule();
  EXPECT_TRUE(pass.pending());
  io.poll();
  EXPECT_EQ(hooks, 1u);
  EXPECT_EQ(pass.passes(), 1u);
  EXPECT_EQ(a.output, "a\nb\n");
  EXPECT_FALSE(pass.pending()) << "the hook's push joined the running pass, not a new one";
  said = "c\n";
  pass.schedule();
  EXPECT_EQ(pass.paced(), 1u) << "the hook reported a busy pass: the next one waits";
  io.restart();
  io.run();
  EXPECT_EQ(a.output, "a\nb\nc\n");
  EXPECT_EQ(hooks, 2u);
}

// A paced pass never starts sooner than rest x (the last pass's duration) after that pass
// ended, when that pass was busy (two or more messages waiting per queue); here each flush
// takes 2 ms and rest is 1. (If the test thread is held up past that point the pass simply
// runs at once; the spacing holds either way.) A quiet pass (one message each) is never
// followed by a wait.
TEST(WriteQueuePass, BusyPassesRestAsLongAsTheLastOneTookQuietOnesDoNot) {
  using clock = std::chrono::steady_clock;
  struct slow_flush final : sockit::session::detail::flushable {
    std::size_t waiting = 2;
    std::vector<std::pair<clock::time_point, clock::time_point>> runs;
    std::size_t flush_now() override {
      auto start = clock::now();
      while (clock::now() - start < std::chrono::milliseconds(2)) {
      }
      runs.emplace_back(start, clock::now());
      return waiting;
    }
  };
  asio::io_context io;
  sockit::session::flush_pass pass(io.get_executor(), 1.0);
  slow_flush q;
  for (int i = 0; i < 4; ++i) {
    pass.add(&q);
    io.restart();
    io.run();  // the pass, after its timer if it had to wait
  }
  ASSERT_EQ(q.runs.size(), 4u);
  EXPECT_EQ(pass.passes(), 4u);
  EXPECT_GE(pass.paced(), 1u) << "a busy 2 ms pass followed at once by more work must wait";
  for (std::size_t i = 1; i < q.runs.size(); ++i) {
    auto took = q.runs[i - 1].second - q.runs[i - 1].first;
    auto rested = q.runs[i].first - q.runs[i - 1].second;
    EXPECT_GE(rested + std::chrono::microseconds(20), took) << "pass " << i;
  }

  q.waiting = 1;  // quiet: one message per queue
  pass.add(&q);
  io.restart();
  io.run();  // after a busy pass: may still wait once
  const auto paced = pass.paced();
  for (int i = 0; i < 3; ++i) {
    pass.add(&q);
    io.restart();
    io.run();
  }
  EXPECT_EQ(pass.paced(), paced) << "a quiet pass must not delay the next";

  sockit::session::flush_pass unpaced(io.get_executor());
  q.waiting = 5;
  unpaced.add(&q);
  io.restart();
  io.run();
  unpaced.add(&q);
  io.restart();
  io.run();
  EXPECT_EQ(unpaced.paced(), 0u);
}

}  // namespace
