// line_reader: lines split at every byte, CRLF, the max-line bound, EOF handling.
#include "sockit/session/line_reader.hpp"

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <string>
#include <vector>

#include "chat_test_stream.hpp"

namespace {

using sockit::session::line_reader;
using sockit::test::chat_test_stream;

struct outcome {
  std::vector<std::string> lines;  // "!" prefix marks a too-long report
  std::error_code end;
  std::size_t max_capacity = 0;
};

outcome read_all(std::string input, std::size_t max_line, std::size_t max_read,
                 std::size_t chunk = 1024) {
  asio::io_context io;
  chat_test_stream s(io.get_executor());
  s.input = std::move(input);
  s.max_read = max_read;
  outcome out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        line_reader<chat_test_stream> r(s, max_line, chunk);
        std::string line;
        for (int guard = 0; guard < 100000; ++guard) {
          auto ec = co_await r.read_line(line);
          out.max_capacity = std::max(out.max_capacity, r.capacity());
          if (ec == std::errc::message_size) {
            out.lines.push_back("!" + line);
            continue;
          }
          if (ec) {
            out.end = ec;
            co_return;
          }
          out.lines.push_back(line);
        }
      },
      asio::detached);
  io.run();
  return out;
}

TEST(LineReader, SplitsLinesWhateverTheReadSizes) {
  const std::string input = "hello\nworld\r\n\nlast one\n";
  for (std::size_t read = 1; read <= input.size(); ++read) {
    for (std::size_t chunk : {1u, 3u, 1024u}) {
      auto out = read_all(input, 100, read, chunk);
      ASSERT_EQ(out.lines, (std::vector<std::string>{"hello", "world", "", "last one"}))
          << "read " << read << " chunk " << chunk;
      EXPECT_EQ(out.end, asio::error::eof);
    }
  }
}

TEST(LineReader, FinalLineWithoutNewlineIsDelivered) {
  auto out = read_all("a\nno newline", 100, 1);
  EXPECT_EQ(out.lines, (std::vector<std::string>{"a", "no newline"}));
  EXPECT_EQ(out.end, asio::error::eof);
}

TEST(LineReader, LineOfExactlyMaxIsAccepted) {
  auto out = read_all("12345\n12345\r\n123456\nok\n", 5, 1);
  EXPECT_EQ(out.lines, (std::vector<std::string>{"12345", "12345", "!12345", "ok"}));
}

TEST(LineReader, HugeLineIsReportedOnceSkippedAndMemoryStaysBounded) {
  std::string huge(1 << 20, 'x');
  for (std::size_t read : {1u << 16, 4096u, 7u}) {
    if (read == 7) huge.resize(20000);  // one byte at a time is slow; the logic is the same
    auto out = read_all("before\n" + huge + "\nafter\n", 64, read, 256);
    ASSERT_EQ(out.lines.size(), 3u) << "read " << read;
    EXPECT_EQ(out.lines[0], "before");
    EXPECT_EQ(out.lines[1], "!" + std::string(64, 'x'));
    EXPECT_EQ(out.lines[2], "after");
    // max_line + 1 + chunk, give or take std::string growing its capacity by doubling.
    EXPECT_LE(out.max_capacity, 2 * (64 + 1 + 256)) << "buffer grew with the line";
  }
}

TEST(LineReader, TooLongUnterminatedLineAtEofIsReportedThenEof) {
  auto out = read_all(std::string(100, 'y'), 10, 1000);
  EXPECT_EQ(out.lines, (std::vector<std::string>{"!" + std::string(10, 'y')}));
  EXPECT_EQ(out.end, asio::error::eof);
}

TEST(LineReader, BinaryBytesPassThrough) {
  std::string line("a\0b\x1b[31m\xff\xfe", 9);
  auto out = read_all(line + "\n", 100, 2);
  ASSERT_EQ(out.lines.size(), 1u);
  EXPECT_EQ(out.lines[0], line);
}

TEST(LineReader, EmptyInputIsEof) {
  auto out = read_all("", 10, 1);
  EXPECT_TRUE(out.lines.empty());
  EXPECT_EQ(out.end, asio::error::eof);
}

}  // namespace
