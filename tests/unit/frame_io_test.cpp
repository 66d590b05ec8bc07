// Test that the header is self-contained: it comes first.
#include "sockit/session/frame_io.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "sockit/net/error.hpp"

namespace sockit::session {
namespace {

using sock = asio::local::stream_protocol::socket;

// Runs `reader_fn` on one end of a socket pair while a thread writes `bytes` to the other
// end in pieces of `piece` bytes (short reads are the normal case), then closes it.
template <class Fn>
void with_pair(const std::string& bytes, std::size_t piece, Fn reader_fn) {
  asio::io_context io;
  sock a(io), b(io);
  asio::local::connect_pair(a, b);
  int fd = b.release();
  std::thread writer([&bytes, piece, fd] {
    for (std::size_t at = 0; at < bytes.size(); at += piece) {
      std::size_t n = std::min(piece, bytes.size() - at);
      ASSERT_EQ(::write(fd, bytes.data() + at, n), static_cast<ssize_t>(n));
    }
    ::close(fd);
  });
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await reader_fn(a);
        done = true;
      },
      asio::detached);
  io.run();
  writer.join();
  EXPECT_TRUE(done);
}

std::string stream_of_frames() {
  std::string s(codec::magic.begin(), codec::magic.end());
  codec::append_frame(s, nlohmann::json{{"op", "hello"}});
  codec::append_frame(s, nlohmann::json{{"op", "put"}}, std::string(100000, 'x'));
  codec::append_frame(s, nlohmann::json{{"op", "skip"}}, "unread body");
  codec::append_frame(s, nlohmann::json{{"op", "end"}});
  return s;
}

TEST(FrameIo, ReadsFramesWithAnyPieceSize) {
  std::string s = stream_of_frames();
  for (std::size_t piece : {1u, 3u, 4096u, 1u << 20}) {
    with_pair(s, piece, [](sock& a) -> asio::awaitable<void> {
      frame_reader<sock> r(a, codec::limits{}, nullptr, {}, 1024);  // small buffer on purpose
      codec::format fmt{};
      EXPECT_FALSE(co_await r.read_opening(fmt));
      EXPECT_EQ(fmt, codec::format::native);
      codec::frame_header h;
      EXPECT_FALSE(co_await r.read_header(h));
      EXPECT_EQ(h.op(), "hello");
      EXPECT_FALSE(co_await r.read_header(h));
      EXPECT_EQ(h.body_size, 100000u);
      std::string body;
      EXPECT_FALSE(co_await r.read_body_into(body));
      EXPECT_EQ(body, std::string(100000, 'x'));
      EXPECT_FALSE(co_await r.read_header(h));
      EXPECT_EQ(h.op(), "skip");
      EXPECT_FALSE(co_await r.read_header(h));  // the unread body was skipped
      EXPECT_EQ(h.op(), "end");
      EXPECT_EQ(co_await r.read_header(h), asio::error::eof);
    });
  }
}

TEST(FrameIo, TakesBufferedFramesInOrder) {
  std::string s(codec::magic.begin(), codec::magic.end());
  for (int i = 0; i < 3; ++i) codec::append_frame(s, nlohmann::json{{"n", i}}, "body");
  with_pair(s, s.size(), [](sock& a) -> asio::awaitable<void> {
    frame_reader<sock> r(a, codec::limits{});
    codec::format fmt{};
    EXPECT_FALSE(co_await r.read_opening(fmt));
    codec::frame_header h;
    for (int i = 0; i < 3; ++i) {
      EXPECT_FALSE(co_await r.read_header(h)) << i;
      EXPECT_EQ(h.fields["n"], i);
      EXPECT_EQ(r.body_left(), 4u);
      auto [ec, piece] = co_await r.read_body();
      EXPECT_FALSE(ec);
      EXPECT_EQ(piece, "body");
      EXPECT_EQ(r.body_left(), 0u);
      EXPECT_EQ(r.has_buffered(), i < 2) << i;        // the next frame came in the same read
      auto [done_ec, none] = co_await r.read_body();  // the body is complete: empty
      EXPECT_FALSE(done_ec);
      EXPECT_TRUE(none.empty());
    }
    EXPECT_EQ(co_await r.read_header(h), asio::error::eof);
  });
}

TEST(FrameIo, ClassicOpening) {
  std::string head = R"({"file_size":3,"file_name":"a","md5":""})";
  std::string s(4, '\0');
  s[0] = static_cast<char>(head.size());
  s += head + "abc";
  with_pair(s, 2, [](sock& a) -> asio::awaitable<void> {
    frame_reader<sock> r(a, codec::limits{});
    codec::format fmt{};
    EXPECT_FALSE(co_await r.read_opening(fmt));
    EXPECT_EQ(fmt, codec::format::classic);
    codec::frame_header h;
    EXPECT_FALSE(co_await r.read_header(h));
    std::string body;
    EXPECT_FALSE(co_await r.read_body_into(body));
    EXPECT_EQ(body, "abc");
  });
}

TEST(FrameIo, TruncatedFrameIsAProtocolError) {
  std::string s = stream_of_frames();
  s.resize(s.size() - 2);
  with_pair(s, 7, [](sock& a) -> asio::awaitable<void> {
    frame_reader<sock> r(a, codec::limits{});
    codec::format fmt{};
    EXPECT_FALSE(co_await r.read_opening(fmt));
    codec::frame_header h;
    std::error_code ec;
    for (int i = 0; i < 10 && !ec; ++i) ec = co_await r.read_header(h);
    EXPECT_EQ(ec, errc::protocol_error);
  });
}

TEST(FrameIo, HeaderDeadlineFiresOnASilentPeer) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context io;
  sock a(io), b(io);
  asio::local::connect_pair(a, b);
  std::string half(codec::magic.begin(), codec::magic.end());
  half += std::string("\0\0\0\x20{\"op\"", 9);  // half a header, then silence
  asio::write(b, asio::buffer(half));
  deadline d;
  bool timed_out = false;
  auto start = std::chrono::steady_clock::now();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        frame_reader<sock> r(
            a, codec::limits{}, &d,
            frame_timeouts{std::chrono::milliseconds(200), std::chrono::seconds(5)});
        auto reading = [&]() -> asio::awaitable<void> {
          codec::format fmt{};
          co_await r.read_opening(fmt);
          codec::frame_header h;
          co_await r.read_header(h);
        };
        auto v = co_await (reading() || watch_deadline(d));
        timed_out = v.index() == 1;
      },
      asio::detached);
  io.run();
  EXPECT_TRUE(timed_out);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(190));
}

TEST(FrameIo, WriterBatchesAndSendsFiles) {
  asio::io_context io;
  sock a(io), b(io);
  asio::local::connect_pair(a, b);
  char path[] = "/tmp/sockit-frame-io-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  std::string content(300000, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7);
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  std::string received;
  std::thread reader([&] {
    int rfd = b.release();
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(rfd, buf, sizeof buf);
      if (n <= 0) break;
      received.append(buf, static_cast<std::size_t>(n));
    }
    ::close(rfd);
  });
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        frame_writer<sock> w(a);
        w.queue(nlohmann::json{{"op", "a"}});
        w.queue(nlohmann::json{{"op", "file"}, {"size", 299990}});
        EXPECT_FALSE(co_await w.send_file(fd, 10, 299990));
        a.close();
      },
      asio::detached);
  io.run();
  reader.join();
  ::close(fd);
  codec::decoder d(codec::limits{});
  std::vector<codec::frame> frames;
  std::error_code ec;
  ASSERT_TRUE(d.feed(received, frames, ec)) << ec.message() << " after " << received.size();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[1].body, content.substr(10));
}

}  // namespace
}  // namespace sockit::session
