// Test that the header is self-contained: it comes first.
#include "sockit/codec/frame_cursor.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "sockit/net/error.hpp"

namespace sockit::codec {
namespace {

using status = frame_cursor::status;

// Feeds `stream` to a cursor in chunks ending at `cuts` (then the rest), through
// write_area()/commit() as a reader would, and logs what a reader sees: the format, each
// header's op, each body read whole (bodies of frames whose op is "skip" are left unread),
// errors, and how the stream ended.
std::vector<std::string> read_all(std::string_view stream, std::vector<std::size_t> cuts,
                                  std::size_t buffer_size = 64) {
  cuts.push_back(stream.size());
  frame_cursor c(limits{}, buffer_size);
  std::vector<std::string> log;
  std::size_t at = 0, cut = 0;
  // One read: what fits in the write area, up to the next cut. False at the end of input.
  auto read = [&] {
    while (cut < cuts.size() && cuts[cut] <= at) ++cut;
    if (cut == cuts.size()) return false;
    auto area = c.write_area();
    EXPECT_FALSE(area.empty());
    std::size_t n = std::min(area.size(), cuts[cut] - at);
    std::memcpy(area.data(), stream.data() + at, n);
    c.commit(n);
    at += n;
    return true;
  };
  format fmt{};
  for (status st; (st = c.detect_format(fmt)) != status::ready;) {
    if (st == status::error) return {"error: " + c.error().message()};
    if (!read()) return {"eof in opening"};
  }
  log.push_back(fmt == format::native ? "native" : "classic");
  for (;;) {
    frame_header h;
    status st = c.next_header(h);
    if (st == status::need_more) {
      if (read()) continue;
      log.push_back(c.at_frame_boundary() ? "eof" : "eof inside a frame");
      return log;
    }
    if (st == status::error) {
      log.push_back("error: " + c.error().message());
      return log;
    }
    std::string op(h.op());
    log.push_back("header " + op);
    EXPECT_EQ(c.body_left(), h.has_body ? h.body_size : 0);
    if (op == "skip") continue;
    std::string body;
    for (;;) {
      std::string_view piece;
      st = c.next_piece(piece);
      if (st == status::ready && piece.empty()) break;
      if (st == status::ready) {
        body.append(piece);
        continue;
      }
      EXPECT_EQ(st, status::need_more);
      if (!read()) {
        log.push_back("eof in body after " + std::to_string(body.size()));
        EXPECT_FALSE(c.at_frame_boundary());
        return log;
      }
    }
    EXPECT_EQ(c.body_left(), 0u);
    if (h.has_body) log.push_back("body " + body);
  }
}

std::string frames() {
  std::string s(magic.begin(), magic.end());
  append_frame(s, nlohmann::json{{"op", "hello"}});
  append_frame(s, nlohmann::json{{"op", "put"}}, std::string(150, 'x') + "end");
  append_frame(s, nlohmann::json{{"op", "skip"}}, "unread body");
  append_frame(s, nlohmann::json{{"op", "empty"}, {"size", 0}});
  append_frame(s, nlohmann::json{{"op", "small"}}, "ab");
  return s;
}

const std::vector<std::string> expected_log = {
    "native",      "header hello", "header put", "body " + std::string(150, 'x') + "end",
    "header skip", "header empty", "body ",      "header small",
    "body ab",     "eof"};

TEST(FrameCursor, EverySplitOffsetGivesTheSameFrames) {
  std::string s = frames();
  EXPECT_EQ(read_all(s, {}), expected_log);
  for (std::size_t cut = 0; cut <= s.size(); ++cut) {
    EXPECT_EQ(read_all(s, {cut}), expected_log) << "cut at " << cut;
    EXPECT_EQ(read_all(s, {cut}, 4096), expected_log) << "cut at " << cut << ", big buffer";
  }
}

TEST(FrameCursor, EveryPairOfSplitsGivesTheSameFrames) {
  std::string s = frames();
  for (std::size_t a = 0; a <= s.size(); a += 3) {
    for (std::size_t b = a; b <= s.size(); b += 5) {
      ASSERT_EQ(read_all(s, {a, b}, 16), expected_log) << "cuts at " << a << ", " << b;
    }
  }
}

TEST(FrameCursor, ByteByByte) {
  std::string s = frames();
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < s.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(read_all(s, cuts, 16), expected_log);
}

TEST(FrameCursor, EndInsideAFrameIsNotABoundary) {
  std::string s = frames();
  const std::size_t full = s.size();
  // Every truncation point: the log ends with a clean eof only where a frame ends.
  std::size_t clean = 0;
  for (std::size_t n = 4; n < full; ++n) {
    auto log = read_all(std::string_view(s).substr(0, n), {n / 2});
    ASSERT_FALSE(log.empty());
    if (log.back() == "eof") ++clean;
  }
  EXPECT_EQ(clean, 5u);  // after the opening and after each of the first 4 frames
  auto log = read_all(std::string_view(s).substr(0, full - 1), {});
  EXPECT_EQ(log.back(), "eof in body after 1");
  log = read_all(std::string_view(s).substr(0, 6), {});
  EXPECT_EQ(log.back(), "eof inside a frame");
}

TEST(FrameCursor, ClassicKeepsTheOpeningAsALength) {
  std::string head = R"({"file_size":3,"file_name":"a","md5":""})";
  std::string s(4, '\0');
  s[0] = static_cast<char>(head.size());
  s += head + "abc";
  std::vector<std::string> want = {"classic", "header ", "body abc", "eof"};
  for (std::size_t cut = 0; cut <= s.size(); ++cut) EXPECT_EQ(read_all(s, {cut}), want) << cut;
}

TEST(FrameCursor, ErrorsAreReportedAndSticky) {
  EXPECT_EQ(read_all("\xff\xff\xff\xff", {}),
            std::vector<std::string>{"error: " + make_error_code(errc::bad_magic).message()});
  std::string s(magic.begin(), magic.end());
  append_frame(s, nlohmann::json{{"op", "hello"}});
  s += std::string("\x7f\xff\xff\xff", 4);  // a header length above max_header
  auto log = read_all(s, {7});
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[1], "header hello");
  EXPECT_EQ(log[2], "error: " + make_error_code(errc::frame_too_large).message());

  frame_cursor c;
  auto area = c.write_area();
  std::memcpy(area.data(), s.data(), s.size());
  c.commit(s.size());
  format fmt{};
  ASSERT_EQ(c.detect_format(fmt), status::ready);
  frame_header h;
  ASSERT_EQ(c.next_header(h), status::ready);
  EXPECT_EQ(c.next_header(h), status::error);
  EXPECT_EQ(c.next_header(h), status::error);  // the stream is unusable from here on
  EXPECT_EQ(c.error(), errc::frame_too_large);
}

TEST(FrameCursor, HasBufferedSaysWhetherANextFrameHasStarted) {
  std::string s(magic.begin(), magic.end());
  append_frame(s, nlohmann::json{{"op", "a"}}, "body");
  append_frame(s, nlohmann::json{{"op", "b"}});
  frame_cursor c;
  auto area = c.write_area();
  std::memcpy(area.data(), s.data(), s.size());
  c.commit(s.size());
  format fmt{};
  ASSERT_EQ(c.detect_format(fmt), status::ready);
  frame_header h;
  ASSERT_EQ(c.next_header(h), status::ready);
  EXPECT_EQ(h.op(), "a");
  EXPECT_EQ(c.body_left(), 4u);
  EXPECT_FALSE(c.at_frame_boundary());
  ASSERT_EQ(c.next_header(h), status::ready);  // the unread body is skipped
  EXPECT_EQ(h.op(), "b");
  EXPECT_TRUE(c.at_frame_boundary());
  EXPECT_FALSE(c.has_buffered());
  EXPECT_EQ(c.next_header(h), status::need_more);
  std::string_view piece = "unchanged";
  EXPECT_EQ(c.next_piece(piece), status::ready);  // no body: complete, and empty
  EXPECT_TRUE(piece.empty());
}

}  // namespace
}  // namespace sockit::codec
