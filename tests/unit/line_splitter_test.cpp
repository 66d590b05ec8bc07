// line_splitter: lines cut at every piece size, CRLF, the max-line bound (reported once, the
// rest skipped, memory bounded), the end of the stream, stopping early, and an oracle check
// on random input cut at random places.
#include "sockit/session/line_splitter.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace {

using sockit::session::line_kind;
using sockit::session::line_splitter;

// "!" + line for a too-long report. Built with append, not `"!" + std::string(...)`: GCC 12's
// -Wrestrict misfires on operator+(const char*, string&&) once inlined (GCC bug 105329).
std::string marked(std::string_view line, line_kind kind) {
  std::string out;
  if (kind == line_kind::too_long) out += '!';
  out.append(line);
  return out;
}

struct outcome {
  std::vector<std::string> lines;  // "!" prefix marks a too-long report
  std::size_t max_capacity = 0;
};

// Feeds `input` in pieces of `piece` bytes, then ends the stream.
outcome split(const std::string& input, std::size_t max_line, std::size_t piece) {
  line_splitter s(max_line);
  outcome out;
  auto take = [&](std::string_view line, line_kind kind) {
    out.lines.push_back(marked(line, kind));
    return true;
  };
  for (std::size_t at = 0; at < input.size(); at += piece) {
    auto part = std::string_view(input).substr(at, piece);
    EXPECT_EQ(s.feed(part, take), part.size());
    out.max_capacity = std::max(out.max_capacity, s.capacity());
    EXPECT_LE(s.buffered(), max_line + 1);
  }
  EXPECT_TRUE(s.finish(take));
  EXPECT_EQ(s.buffered(), 0u);
  return out;
}

TEST(LineSplitter, SplitsLinesWhateverThePieceSizes) {
  const std::string input = "hello\nworld\r\n\nlast one\n";
  for (std::size_t piece = 1; piece <= input.size(); ++piece) {
    ASSERT_EQ(split(input, 100, piece).lines,
              (std::vector<std::string>{"hello", "world", "", "last one"}))
        << "piece " << piece;
  }
}

TEST(LineSplitter, FinalLineWithoutNewlineIsDeliveredAtTheEnd) {
  EXPECT_EQ(split("a\nno newline", 100, 1).lines, (std::vector<std::string>{"a", "no newline"}));
  EXPECT_EQ(split("a\nno newline\r", 100, 3).lines, (std::vector<std::string>{"a", "no newline"}));
  EXPECT_TRUE(split("", 10, 1).lines.empty());
}

TEST(LineSplitter, LineOfExactlyMaxIsAcceptedOneMoreIsNot) {
  for (std::size_t piece : {1u, 2u, 5u, 6u, 7u, 100u}) {
    EXPECT_EQ(split("12345\n12345\r\n123456\nok\n", 5, piece).lines,
              (std::vector<std::string>{"12345", "12345", "!12345", "ok"}))
        << "piece " << piece;
  }
}

TEST(LineSplitter, HugeLineIsReportedOnceSkippedAndMemoryStaysBounded) {
  const std::string huge(1 << 20, 'x');
  for (std::size_t piece : {1u << 16, 4096u, 63u, 64u, 65u}) {
    auto out = split("before\n" + huge + "\nafter\n", 64, piece);
    ASSERT_EQ(out.lines.size(), 3u) << "piece " << piece;
    EXPECT_EQ(out.lines[0], "before");
    EXPECT_EQ(out.lines[1], marked(std::string(64, 'x'), line_kind::too_long));
    EXPECT_EQ(out.lines[2], "after");
    EXPECT_LE(out.max_capacity, 256u) << "the buffer grew with the line";
  }
}

TEST(LineSplitter, TooLongUnterminatedLineIsReportedOnceEvenAtTheEnd) {
  EXPECT_EQ(split(std::string(100, 'y'), 10, 1000).lines,
            (std::vector<std::string>{marked(std::string(10, 'y'), line_kind::too_long)}));
  EXPECT_EQ(split(std::string(100, 'y'), 10, 3).lines,
            (std::vector<std::string>{marked(std::string(10, 'y'), line_kind::too_long)}));
  // Exactly max_line + 1 bytes, unterminated: too long only once the stream ends.
  EXPECT_EQ(split("abcdef", 5, 1).lines, (std::vector<std::string>{"!abcde"}));
}

TEST(LineSplitter, BinaryBytesPassThrough) {
  const std::string line("a\0b\x1b[31m\xff\xfe", 9);
  EXPECT_EQ(split(line + "\n", 100, 2).lines, (std::vector<std::string>{line}));
}

TEST(LineSplitter, StopsWhenTheCallbackSaysSoAndResumesWithTheRest) {
  line_splitter s(5);
  std::vector<std::string> seen;
  auto until_two = [&](std::string_view line, line_kind kind) {
    seen.emplace_back(marked(line, kind));
    return line != "two";
  };
  const std::string input = "one\ntwo\nthree\nfour";
  std::size_t used = s.feed(input, until_two);
  EXPECT_EQ(used, 8u);  // "one\ntwo\n"
  EXPECT_EQ(seen, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(s.feed(std::string_view(input).substr(used), until_two), input.size() - used);
  EXPECT_TRUE(s.finish(until_two));
  EXPECT_EQ(seen, (std::vector<std::string>{"one", "two", "three", "four"}));

  // Stopping on a too-long report of an unfinished line still skips the rest of that line.
  line_splitter t(3);
  seen.clear();
  auto stop = [&](std::string_view line, line_kind kind) {
    seen.emplace_back(marked(line, kind));
    return false;
  };
  EXPECT_EQ(t.feed("abcdef", stop), 6u);
  EXPECT_EQ(t.feed("ghi\nok\nmore\n", stop), 7u);  // the long line's rest skipped, then "ok"
  EXPECT_EQ(seen, (std::vector<std::string>{"!abc", "ok"}));
}

TEST(LineSplitter, GivesBackTheMemoryOfALongLine) {
  line_splitter s(4096);
  auto ignore = [](std::string_view, line_kind) { return true; };
  s.feed(std::string(3000, 'z'), ignore);
  EXPECT_GE(s.capacity(), 3000u);
  s.feed("\n", ignore);
  EXPECT_LE(s.capacity(), 256u);
}

// Random lines (some too long, some with CR, some empty) cut at random places must come out
// as a simple whole-input split says.
TEST(LineSplitter, MatchesAWholeInputSplitOnRandomInput) {
  std::mt19937 rng(20261122);
  for (int round = 0; round < 300; ++round) {
    const std::size_t max_line = 1 + rng() % 40;
    std::string input;
    std::vector<std::string> expected;
    const int lines = static_cast<int>(rng() % 20);
    for (int i = 0; i < lines; ++i) {
      std::string line(rng() % (2 * max_line + 3), 'a');
      for (char& c : line) c = static_cast<char>(rng() % 8 == 0 ? '\r' : 'a' + rng() % 26);
      bool cr = rng() % 4 == 0;
      bool last_unterminated = i == lines - 1 && rng() % 2 == 0;
      input += line + (last_unterminated ? "" : cr ? "\r\n" : "\n");
      if (last_unterminated && line.empty()) continue;  // nothing at all: no line
      std::string content = line;  // one '\r' before the end of the line is not part of it
      if ((!cr || last_unterminated) && !content.empty() && content.back() == '\r')
        content.pop_back();
      expected.push_back(content.size() > max_line
                             ? marked(content.substr(0, max_line), line_kind::too_long)
                             : content);
    }
    outcome out;
    line_splitter s(max_line);
    auto take = [&](std::string_view line, line_kind kind) {
      out.lines.push_back(marked(line, kind));
      return true;
    };
    for (std::size_t at = 0; at < input.size();) {
      std::size_t n = 1 + rng() % 17;
      s.feed(std::string_view(input).substr(at, n), take);
      ASSERT_LE(s.buffered(), max_line + 1);
      at += n;
    }
    s.finish(take);
    ASSERT_EQ(out.lines, expected) << "round " << round << " max_line " << max_line;
  }
}

}  // namespace
