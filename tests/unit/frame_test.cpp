// Test that the header is self-contained: it comes first.
#include "sockit/codec/frame.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sockit/net/error.hpp"

namespace sockit::codec {
namespace {

std::string be32(std::uint32_t n) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(n >> (24 - 8 * i));
  return s;
}

std::string le32(std::int32_t v) {
  auto n = static_cast<std::uint32_t>(v);
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(n >> (8 * i));
  return s;
}

// Several frames back to back: no body, a body, an empty body, binary body with NULs.
std::string sample_stream() {
  std::string s;
  append_frame(s, nlohmann::json{{"op", "hello"}, {"version", 1}});
  append_frame(s, nlohmann::json{{"op", "put"}, {"id", 1}, {"name", "文件.txt"}}, "hello world");
  append_frame(s, nlohmann::json{{"op", "data"}, {"id", 1}, {"size", 0}});
  append_frame(s, nlohmann::json{{"op", "end"}, {"id", 1}, {"nested", {{"a", {1, 2, {3}}}}}},
               std::string("\0\x01\xff\n", 4));
  return s;
}

std::vector<frame> decode_all(const std::vector<std::string_view>& chunks, std::error_code& ec,
                              limits lim = {}) {
  decoder d(lim);
  std::vector<frame> out;
  for (auto c : chunks) {
    if (!d.feed(c, out, ec)) break;
  }
  return out;
}

void expect_sample(const std::vector<frame>& f) {
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].header.op(), "hello");
  EXPECT_FALSE(f[0].header.has_body);
  EXPECT_EQ(f[1].header.fields["name"], "文件.txt");
  EXPECT_EQ(f[1].body, "hello world");
  EXPECT_TRUE(f[2].header.has_body);
  EXPECT_EQ(f[2].body, "");
  EXPECT_EQ(f[3].body, std::string("\0\x01\xff\n", 4));
}

TEST(Frame, EncodeLayoutIsBigEndianLengthThenJsonThenBody) {
  std::string f = encode(nlohmann::json{{"op", "x"}}, "AB");
  std::string header = R"({"op":"x","size":2})";
  EXPECT_EQ(f, be32(static_cast<std::uint32_t>(header.size())) + header + "AB");
}

TEST(Frame, OneShot) {
  std::error_code ec;
  std::string s = sample_stream();
  auto f = decode_all({s}, ec);
  EXPECT_FALSE(ec);
  expect_sample(f);
}

TEST(Frame, SplitAtEveryOffset) {
  std::string s = sample_stream();
  for (std::size_t i = 0; i <= s.size(); ++i) {
    std::error_code ec;
    std::string_view v(s);
    auto f = decode_all({v.substr(0, i), v.substr(i)}, ec);
    ASSERT_FALSE(ec) << "split at " << i;
    expect_sample(f);
  }
}

TEST(Frame, SplitAtEveryPairOfOffsets) {
  std::string s = sample_stream();
  std::string_view v(s);
  for (std::size_t i = 0; i <= s.size(); i += 3) {
    for (std::size_t j = i; j <= s.size(); ++j) {
      std::error_code ec;
      auto f = decode_all({v.substr(0, i), v.substr(i, j - i), v.substr(j)}, ec);
      ASSERT_FALSE(ec) << i << "," << j;
      ASSERT_EQ(f.size(), 4u);
      EXPECT_EQ(f[3].body, std::string("\0\x01\xff\n", 4));
    }
  }
}

TEST(Frame, ByteByByte) {
  std::string s = sample_stream();
  std::vector<std::string_view> chunks;
  for (std::size_t i = 0; i < s.size(); ++i) chunks.push_back(std::string_view(s).substr(i, 1));
  std::error_code ec;
  auto f = decode_all(chunks, ec);
  EXPECT_FALSE(ec);
  expect_sample(f);
}

TEST(Frame, ParserReportsBodyPiecesWithoutCopying) {
  std::string s = encode(nlohmann::json{{"op", "put"}}, std::string(1000, 'x'));
  parser p;
  std::string_view in(s.data(), s.size() - 300);
  EXPECT_EQ(p.next(in), parser::event::header);
  EXPECT_EQ(p.header().body_size, 1000u);
  ASSERT_EQ(p.next(in), parser::event::body);
  EXPECT_EQ(p.body_piece().size(), 700u);
  EXPECT_GE(p.body_piece().data(), s.data());  // a view into the input
  EXPECT_LT(p.body_piece().data(), s.data() + s.size());
  EXPECT_EQ(p.body_remaining(), 300u);
  EXPECT_EQ(p.next(in), parser::event::need_more);
  EXPECT_FALSE(p.at_frame_boundary());
  std::string_view rest(s.data() + s.size() - 300, 300);
  EXPECT_EQ(p.next(rest), parser::event::body);
  EXPECT_EQ(p.next(rest), parser::event::frame_end);
  EXPECT_TRUE(p.at_frame_boundary());
}

TEST(Frame, SkipBodyForCallersThatReadBodiesThemselves) {
  std::string s = encode(nlohmann::json{{"op", "put"}}, "0123456789");
  parser p;
  std::string_view in(s.data(), s.size() - 10);
  ASSERT_EQ(p.next(in), parser::event::header);
  p.skip_body(10);
  std::string_view none;
  EXPECT_EQ(p.next(none), parser::event::frame_end);
}

TEST(Frame, LengthPrefixOverLimitRejectedBeforeAllocating) {
  limits lim;
  lim.max_header = 100;
  for (std::uint32_t n : {0xFFFFFFFFu, 101u}) {
    std::error_code ec;
    std::string s = be32(n);  // no header bytes follow: nothing may be waited for or reserved
    auto f = decode_all({s}, ec, lim);
    EXPECT_EQ(ec, errc::frame_too_large) << n;
    EXPECT_TRUE(f.empty());
  }
  std::error_code ec;
  std::string ok = be32(100) + "{" + std::string(98, ' ') + "}";
  decode_all({ok}, ec, lim);
  EXPECT_FALSE(ec);
}

TEST(Frame, ZeroLengthHeaderIsBad) {
  std::error_code ec;
  std::string s = be32(0);
  decode_all({s}, ec);
  EXPECT_EQ(ec, errc::bad_header);
}

TEST(Frame, BodySizeOverLimitRejectedAtHeader) {
  limits lim;
  lim.max_body = 10;
  std::error_code ec;
  std::string s = encode(nlohmann::json{{"op", "put"}, {"size", 11}});
  decode_all({s}, ec, lim);
  EXPECT_EQ(ec, errc::body_too_large);
  std::string huge = encode(nlohmann::json{{"op", "put"}, {"size", 18446744073709551615ull}});
  decode_all({huge}, ec, lim);
  EXPECT_EQ(ec, errc::body_too_large);
}

TEST(Frame, BodiesMayExceedFourGiB) {
  limits lim;
  lim.max_body = 1ull << 40;
  std::string s = encode(nlohmann::json{{"op", "put"}, {"size", 5ull << 30}});
  parser p(lim);
  std::string_view in(s);
  ASSERT_EQ(p.next(in), parser::event::header);
  EXPECT_EQ(p.header().body_size, 5ull << 30);
}

TEST(Frame, MalformedHeadersAreTypedErrors) {
  for (std::string text : {R"([1,2])", R"("str")", R"({"a":)", R"({"size":-1})", R"({"size":1.5})",
                           R"({"size":"10"})", R"({"size":null})", "\xff\xfe"}) {
    std::error_code ec;
    std::string s = be32(static_cast<std::uint32_t>(text.size())) + text;
    decode_all({s}, ec);
    EXPECT_EQ(ec, errc::bad_header) << text;
  }
}

TEST(Frame, ANulByteIsNotTheEndOfAHeader) {
  // nlohmann stops at a NUL and would have taken `{"op":"ls"}` alone (header fuzzer).
  for (std::string text : {std::string("{\"op\":\"ls\"}\0{\"x\":1}", 20), std::string("{}\0", 3),
                           std::string("{\"a\":\"b\0c\"}", 10)}) {
    std::error_code ec;
    parse_header(text, limits{}, format::native, ec);
    EXPECT_EQ(ec, errc::bad_header) << text.size();
  }
}

TEST(Frame, NestingDepthCheckedByScanBeforeParsing) {
  limits lim;
  lim.max_depth = 4;
  std::string ok = R"({"a":[{"b":[1]}]})";
  std::string deep = R"({"a":[{"b":[[1]]}]})";
  std::string tricky = R"({"a":"[[[[[[[[[[\"{{{{{{{{"})";  // brackets inside a string do not count
  EXPECT_EQ(json_depth(ok, 100), 4u);
  EXPECT_EQ(json_depth(deep, 100), 5u);
  EXPECT_EQ(json_depth(tricky, 100), 1u);
  std::error_code ec;
  parse_header(ok, lim, format::native, ec);
  EXPECT_FALSE(ec);
  parse_header(deep, lim, format::native, ec);
  EXPECT_EQ(ec, errc::header_too_deep);
  parse_header(tricky, lim, format::native, ec);
  EXPECT_FALSE(ec);
  std::string bomb(100000, '[');
  EXPECT_EQ(json_depth(bomb, 16), 17u);  // stops early
}

TEST(Frame, ErrorIsSticky) {
  decoder d;
  std::vector<frame> out;
  std::error_code ec;
  EXPECT_FALSE(d.feed(be32(0), out, ec));
  std::string good = encode(nlohmann::json{{"op", "x"}});
  EXPECT_FALSE(d.feed(good, out, ec));
  EXPECT_TRUE(out.empty());
}

TEST(Frame, ClassicFormatLikeTheSeeds) {
  // struct.pack('i', len(head)) + head + file bytes, as the seeds' client sends it.
  std::string head = R"({"file_size": 5, "file_name": "/a/b/c/d/e/a.txt", "md5": "x"})";
  std::string s = le32(static_cast<std::int32_t>(head.size())) + head + "hello";
  EXPECT_EQ(encode_classic_head(nlohmann::json::parse(head)).substr(4),
            nlohmann::json::parse(head).dump());
  for (std::size_t i = 0; i <= s.size(); ++i) {
    decoder d({}, format::classic);
    std::vector<frame> out;
    std::error_code ec;
    ASSERT_TRUE(d.feed(std::string_view(s).substr(0, i), out, ec));
    ASSERT_TRUE(d.feed(std::string_view(s).substr(i), out, ec));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].body, "hello");
    EXPECT_EQ(out[0].header.fields["file_name"], "/a/b/c/d/e/a.txt");
  }
}

TEST(Frame, ClassicNegativeLengthAndMissingSizeRejected) {
  std::error_code ec;
  decoder d({}, format::classic);
  std::vector<frame> out;
  EXPECT_FALSE(d.feed(le32(-1), out, ec));
  EXPECT_EQ(ec, errc::frame_too_large);
  decoder d2({}, format::classic);
  std::string head = R"({"file_name":"a"})";
  EXPECT_FALSE(d2.feed(le32(static_cast<std::int32_t>(head.size())) + head, out, ec));
  EXPECT_EQ(ec, errc::bad_header);
}

TEST(Frame, DetectFormat) {
  std::error_code ec;
  EXPECT_EQ(detect_format(std::span<const char, 4>(magic), {}, ec), format::native);
  EXPECT_FALSE(ec);
  std::string classic = le32(60);
  EXPECT_EQ(detect_format(std::span<const char, 4>(classic.data(), 4), {}, ec), format::classic);
  EXPECT_FALSE(ec);
  std::string junk = "GET ";
  detect_format(std::span<const char, 4>(junk.data(), 4), {}, ec);
  EXPECT_EQ(ec, errc::bad_magic);
  std::string zero = le32(0);
  detect_format(std::span<const char, 4>(zero.data(), 4), {}, ec);
  EXPECT_EQ(ec, errc::bad_magic);
}

}  // namespace
}  // namespace sockit::codec
