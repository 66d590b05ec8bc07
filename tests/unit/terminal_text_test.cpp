// terminal_text.hpp: the one escaping rule for peer text (CLI escapes and chat's neutralize).
#include "sockit/net/terminal_text.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

using sockit::net::escape_terminal_text;
using sockit::net::is_dangerous_code_point;
using sockit::net::neutralize;

const std::string fffd = "\xef\xbf\xbd";

// UTF-8 for a code point (the test's own encoder, so the cases below read as code points).
std::string utf8(std::uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xc0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xe0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    s += static_cast<char>(0xf0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  }
  return s;
}

// The property both renderings promise: valid UTF-8 with no C0, DEL, C1 or other dangerous
// code point in it. Decodes strictly; returns false at the first violation.
bool terminal_safe(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    unsigned c = p[i];
    std::size_t len = c < 0x80                   ? 1
                      : (c >= 0xc2 && c <= 0xdf) ? 2
                      : (c >= 0xe0 && c <= 0xef) ? 3
                      : (c >= 0xf0 && c <= 0xf4) ? 4
                                                 : 0;
    if (len == 0 || i + len > s.size()) return false;
    std::uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || is_dangerous_code_point(cp))
      return false;
    i += len;
  }
  return true;
}

TEST(TerminalText, PlainAsciiAndUtf8PassUnchanged) {
  EXPECT_EQ(escape_terminal_text("hello, world"), "hello, world");
  EXPECT_EQ(escape_terminal_text("中文 名字.txt ÿ 🎉"), "中文 名字.txt ÿ 🎉");
  EXPECT_EQ(neutralize("中文 名字.txt ÿ 🎉"), "中文 名字.txt ÿ 🎉");
}

TEST(TerminalText, EscapesControlsAndInvalidBytesAsHex) {
  EXPECT_EQ(escape_terminal_text("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
  EXPECT_EQ(escape_terminal_text("\x1b[2J"), "\\x1b[2J");
  EXPECT_EQ(escape_terminal_text(std::string("a\0b\n\t\r\x7f", 7)), "a\\x00b\\x0a\\x09\\x0d\\x7f");
  EXPECT_EQ(escape_terminal_text("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(escape_terminal_text("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(escape_terminal_text("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // surrogate
  EXPECT_EQ(escape_terminal_text("\xe4\xbd"), "\\xe4\\xbd");                    // truncated
  EXPECT_EQ(escape_terminal_text("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // > U+10FFFF
}

TEST(TerminalText, BackslashIsDoubledSoEscapesCannotBeForged) {
  EXPECT_EQ(escape_terminal_text("a\\x1b"), "a\\\\x1b");
  EXPECT_NE(escape_terminal_text("\\x1b"), escape_terminal_text("\x1b"));
  EXPECT_EQ(neutralize("\\o/"), "\\o/");  // chat leaves it as typed
}

TEST(TerminalText, C1BidiAndZeroWidthAreEscaped) {
  EXPECT_EQ(escape_terminal_text("\xc2\x9b"
                                 "31m"),
            "\\u{009b}31m");  // 8-bit CSI
  EXPECT_EQ(escape_terminal_text("evil\xe2\x80\xae"
                                 "txt.exe"),
            "evil\\u{202e}txt.exe");  // right-to-left override
  EXPECT_EQ(escape_terminal_text("a\xe2\x80\x8b"
                                 "b"),
            "a\\u{200b}b");  // zero-width space
  EXPECT_EQ(escape_terminal_text("\xef\xbb\xbfx"), "\\u{feff}x");
  std::vector<std::uint32_t> dangerous = {
      0x80, 0x85, 0x9f, 0x061c, 0x200b, 0x200c, 0x200d, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a,
      0x202b, 0x202c, 0x202d, 0x202e, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x2066, 0x2067,
      0x2068, 0x2069, 0xfeff,
      // the rest of Default_Ignorable_Code_Point
      0x00ad, 0x034f, 0x115f, 0x1160, 0x17b4, 0x180e, 0x2065, 0x206a, 0x206f, 0x3164, 0xffa0,
      0xfff0, 0x1bca0, 0x1d173, 0xe0001, 0xe0041, 0xe007f};
  for (auto cp : dangerous) {
    EXPECT_TRUE(is_dangerous_code_point(cp)) << std::hex << cp;
    std::string in = "x";  // (not "x" + ...: GCC 12 warns, -Wrestrict false positive)
    in += utf8(cp);
    in += 'y';
    std::string esc = escape_terminal_text(in);
    EXPECT_EQ(esc.find(utf8(cp)), std::string::npos) << std::hex << cp;
    EXPECT_EQ(esc.front(), 'x');
    EXPECT_EQ(esc.back(), 'y');
    EXPECT_EQ(neutralize(in), std::string("x").append(fffd).append("y")) << std::hex << cp;
  }
  // Variation selectors stay: they pick how an emoji or a CJK character is drawn.
  for (std::uint32_t cp :
       {0xa0u, 0x061bu, 0x200au, 0x2010u, 0xfe0fu, 0xe0100u, 0xfefeu, 0x1f389u, 0x3163u})
    EXPECT_FALSE(is_dangerous_code_point(cp)) << std::hex << cp;
}

TEST(TerminalText, NeutralizeKeepsTheChatRendering) {
  EXPECT_EQ(neutralize("\x1b[2J\x1b]0;pwned\x07"), "^[[2J^[]0;pwned^G");
  EXPECT_EQ(neutralize("a\tb\rc\x7f"), "a b^Mc^?");
  EXPECT_EQ(neutralize("\xed\xa0\x80"), fffd + fffd + fffd);
  EXPECT_EQ(neutralize("\xc2\x9b"), fffd);
}

TEST(TerminalText, OutputIsAlwaysTerminalSafe) {
  // Every 1- and 2-byte input, and random inputs biased towards UTF-8 lead bytes.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      std::string in{static_cast<char>(a), static_cast<char>(b)};
      ASSERT_TRUE(terminal_safe(escape_terminal_text(in))) << a << " " << b;
      ASSERT_TRUE(terminal_safe(neutralize(in))) << a << " " << b;
    }
  }
  std::mt19937 rng(11);
  const unsigned char interesting[] = {0x00, 0x1b, 0x7f, 0x80, 0x9b, 0xbf, 0xc2, 0xe2,
                                       0x80, 0xae, 0x8b, 0xef, 0xbb, 0xf0, 0xf4, 0xff};
  for (int round = 0; round < 20000; ++round) {
    std::string in(rng() % 12, '\0');
    for (auto& ch : in) {
      ch = static_cast<char>(rng() % 2 ? interesting[rng() % sizeof interesting] : rng() % 256);
    }
    ASSERT_TRUE(terminal_safe(escape_terminal_text(in)));
    ASSERT_TRUE(terminal_safe(neutralize(in)));
  }
  // Every code point, alone, in both renderings.
  for (std::uint32_t cp = 0; cp <= 0x10ffff; cp += (cp < 0x3000 ? 1 : 61)) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    std::string in = utf8(cp);
    ASSERT_TRUE(terminal_safe(escape_terminal_text(in))) << std::hex << cp;
    ASSERT_TRUE(terminal_safe(neutralize(in))) << std::hex << cp;
    if (!is_dangerous_code_point(cp) && cp >= 0x20 && cp != '\\') {
      ASSERT_EQ(escape_terminal_text(in), in) << std::hex << cp;
    }
  }
}

}  // namespace
