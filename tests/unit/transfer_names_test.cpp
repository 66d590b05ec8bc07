// Test that the header is self-contained: it comes first.
#include "sockit/service/transfer_names.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sockit/service/transfer_error.hpp"

namespace sockit::service {
namespace {

TEST(TransferNames, SafeNames) {
  std::error_code ec;
  EXPECT_EQ(split_safe_name("a/b/c.txt", ec), (std::vector<std::string>{"a", "b", "c.txt"}));
  EXPECT_FALSE(ec);
  EXPECT_EQ(split_safe_name("中文/文件 名.txt", ec).size(), 2u);
  EXPECT_FALSE(ec);
  for (const std::string& bad : std::vector<std::string>{
           "", "/etc/x", "../x", "a/../../x", "a/./b", "C:\\x", "C:x", "a\\b", "a//b", "a/",
           std::string("nul\0x", 5), "esc\x1b[2J", "new\nline", "del\x7f", "\xff\xfe", "\xc0\xaf",
           "\xed\xa0\x80", ".x.sockit-part", std::string(256, 'a')}) {
    split_safe_name(bad, ec);
    EXPECT_EQ(ec, transfer_errc::unsafe_name) << bad;
  }
}

TEST(TransferNames, ClassicNamesKeepOnlyTheLastComponent) {
  std::error_code ec;
  EXPECT_EQ(classic_safe_name("/a/b/c/d/e/a.txt", ec), "a.txt");
  EXPECT_EQ(classic_safe_name("C:\\Users\\x\\报告.txt", ec), "报告.txt");
  EXPECT_FALSE(ec);
  for (std::string bad : std::vector<std::string>{"/a/b/", "..", "a/..", "x\n", ""}) {
    classic_safe_name(bad, ec);
    EXPECT_EQ(ec, transfer_errc::unsafe_name) << bad;
  }
}

TEST(TransferNames, PartialNames) {
  EXPECT_EQ(partial_name("a.txt"), ".a.txt.sockit-part");
  EXPECT_TRUE(is_partial_name(".a.txt.sockit-part"));
  EXPECT_FALSE(is_partial_name("a.txt"));
  EXPECT_FALSE(is_partial_name(".sockit-part"));
}

TEST(TransferNames, PartialNamesOfLongBasesFitNameMax) {
  EXPECT_EQ(partial_name(std::string(242, 'a')), "." + std::string(242, 'a') + ".sockit-part");
  std::error_code ec;
  for (std::size_t n : {243u, 250u, 255u}) {
    std::string base(n, 'a');
    std::string p = partial_name(base);
    EXPECT_LE(p.size(), 255u) << n;
    EXPECT_TRUE(is_partial_name(p)) << n;
    EXPECT_EQ(p, partial_name(base));  // the same base, the same partial (stat, resume)
    base.back() = 'b';
    EXPECT_NE(p, partial_name(base));  // bases differing only past the cut differ
  }
  // Cut at a UTF-8 boundary: 85 x "中" (3 bytes each) = 255 bytes.
  std::string han;
  for (int i = 0; i < 85; ++i) han += "中";
  std::string p = partial_name(han);
  EXPECT_LE(p.size(), 255u);
  EXPECT_TRUE(is_safe_component(p.substr(1, p.find(':') - 1))) << p;  // valid UTF-8
}

TEST(TransferNames, NoShortNameSharesALongNamesPartial) {
  // A hostile server listing both a long name L and the short name S that spells L's
  // shortened partial must not get them one file (review finding): S cannot contain ':'.
  std::string long_name(250, 'L');
  std::string p = partial_name(long_name);
  std::string spelled = p.substr(1, p.size() - 1 - 12);  // what a short name would need
  EXPECT_FALSE(is_safe_component(spelled));  // so no peer can name it, and no get writes it
  EXPECT_NE(partial_name(std::string(251, 'L')), p);
}

}  // namespace
}  // namespace sockit::service
