// Test that the header is self-contained: it comes first.
#include "sockit/net/address.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "sockit/net/error.hpp"

namespace sockit::net {
namespace {

// Compile-time: the value types and their classification are constexpr.
static_assert(ipv4_address{ipv4_address::bytes_type{192, 168, 1, 2}}.to_uint() == 0xc0a80102u);
static_assert(ipv4_address{0x0a000001u}.is_private() && ipv4_address{0x0a000001u}.is_rfc1918());
static_assert(!ipv4_address{0xc0000009u}.is_private());  // 192.0.0.9: an exception
static_assert(ipv4_address{0x64400001u}.is_shared() && !ipv4_address{0x64400001u}.is_global());
static_assert(ipv6_address::loopback().is_loopback() && ipv6_address::loopback().is_private());
static_assert(ipv6_address::v4_mapped(ipv4_address::loopback()).is_loopback());
static_assert(ipv4_address{0x7f000001u}.historic_class() == 'A');

TEST(Ipv4, StrictParseAndFormat) {
  EXPECT_EQ(ipv4_address::parse("192.168.1.2").to_uint(), 0xc0a80102u);
  EXPECT_EQ(ipv4_address::parse("0.0.0.0").to_string(), "0.0.0.0");
  EXPECT_EQ(ipv4_address::parse("255.255.255.255").to_string(), "255.255.255.255");
  EXPECT_EQ(ipv4_address{0xc0a80102u}.to_binary(), "11000000.10101000.00000001.00000010");
  EXPECT_EQ(ipv4_address{0xc0a80102u}.reverse_pointer(), "2.1.168.192.in-addr.arpa");
  auto b = ipv4_address::parse("192.168.1.2").to_bytes();
  EXPECT_EQ(b, (ipv4_address::bytes_type{0xc0, 0xa8, 0x01, 0x02}));
}

TEST(Ipv4, EveryMalformedInputIsRejectedWithAReason) {
  for (const char* text : {"",           " ",         "1",          "1.2",
                           "1.2.3",      "1.2.3.4.5", "256.1.1.1",  "1.256.1.1",
                           "1.2.3.256",  "01.2.3.4",  "1.02.3.4",   "00.0.0.0",
                           "1..2.3",     ".1.2.3",    "1.2.3.",     "1.2.3.4.",
                           "-1.2.3.4",   "+1.2.3.4",  "1.2.3.4 ",   " 1.2.3.4",
                           "0x1.2.3.4",  "1.2.3.a",   "1.2.3.4/24", "1,2,3,4",
                           "1234.1.1.1", "1.2.3.4\n", "١.2.3.4",    "999.999.999.999",
                           "1.2.3.-0",   "::1"}) {
    std::error_code ec;
    std::string why;
    ipv4_address::parse(text, ec, why);
    EXPECT_EQ(ec, errc::invalid_address) << text;
    EXPECT_FALSE(why.empty()) << text;
    std::error_code ec2;
    ipv4_address::parse(text, ec2);  // the noexcept form agrees
    EXPECT_EQ(ec2, errc::invalid_address) << text;
    EXPECT_THROW(ipv4_address::parse(text), std::system_error) << text;
  }
  std::string nul("1.2.3.4\0", 8);
  std::error_code ec;
  ipv4_address::parse(nul, ec);
  EXPECT_TRUE(ec);
}

TEST(Ipv4, ErrorsSayWhatIsWrong) {
  std::error_code ec;
  std::string why;
  ipv4_address::parse("256.1.1.1", ec, why);
  EXPECT_NE(why.find("256, more than 255"), std::string::npos) << why;
  ipv4_address::parse("017.0.0.1", ec, why);
  EXPECT_NE(why.find("leading zero"), std::string::npos) << why;
  try {
    ipv4_address::parse("1.2.3");
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("'1.2.3'"), std::string::npos);
  }
}

TEST(Ipv4, StrictAgreesWithInetPton) {
  std::mt19937 rng(1);
  const char alphabet[] = "0123456789.0123456789.x ";
  for (int i = 0; i < 200000; ++i) {
    std::string s(rng() % 17, ' ');
    for (auto& c : s) c = alphabet[rng() % (sizeof alphabet - 1)];
    in_addr out{};
    const bool libc = inet_pton(AF_INET, s.c_str(), &out) == 1;
    std::error_code ec;
    auto a = ipv4_address::parse(s, ec);
    ASSERT_EQ(!ec, libc) << "'" << s << "'";
    if (libc) {
      EXPECT_EQ(a.to_uint(), ntohl(out.s_addr)) << s;
    }
  }
}

TEST(Ipv4, AtonForms) {
  EXPECT_EQ(ipv4_address::parse_aton("127.1").to_string(), "127.0.0.1");
  EXPECT_EQ(ipv4_address::parse_aton("0x7f.1").to_string(), "127.0.0.1");
  EXPECT_EQ(ipv4_address::parse_aton("017.0.0.1").to_string(), "15.0.0.1");
  EXPECT_EQ(ipv4_address::parse_aton("3232235778").to_string(), "192.168.1.2");
  EXPECT_EQ(ipv4_address::parse_aton("10.65535").to_string(), "10.0.255.255");
  EXPECT_EQ(ipv4_address::parse_aton("1.2.3.4 ignored").to_string(), "1.2.3.4");
  for (const char* bad : {"", "08", "1.2.3.4.5", "256.1", "4294967296", "1.16777216", "0x", "1..2",
                          ".1", "1.", "a", " 1.2.3.4", "1.2.3.4x", "-1"}) {
    std::error_code ec;
    std::string why;
    ipv4_address::parse_aton(bad, ec, why);
    EXPECT_EQ(ec, errc::invalid_address) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(Ipv4, AtonAgreesWithGlibcInetAton) {
  std::mt19937 rng(2);
  const char alphabet[] = "0123456789abcdefxX. \t0017";
  for (int i = 0; i < 300000; ++i) {
    std::string s(rng() % 20, ' ');
    for (auto& c : s) c = alphabet[rng() % (sizeof alphabet - 1)];
    in_addr out{};
    const bool libc = inet_aton(s.c_str(), &out) != 0;
    std::error_code ec;
    auto a = ipv4_address::parse_aton(s, ec);
    ASSERT_EQ(!ec, libc) << "'" << s << "'";
    if (libc) {
      ASSERT_EQ(a.to_uint(), ntohl(out.s_addr)) << s;
    }
  }
}

TEST(Ipv4, Classification) {
  auto f = ipv4_address::parse("100.64.0.1").flags();
  EXPECT_TRUE(f.is_shared);
  EXPECT_FALSE(f.is_private);
  EXPECT_FALSE(f.is_global);
  EXPECT_TRUE(ipv4_address::parse("192.0.2.7").flags().is_documentation);
  EXPECT_TRUE(ipv4_address::parse("169.254.1.1").is_link_local());
  EXPECT_TRUE(ipv4_address::parse("224.0.0.1").is_multicast());
  EXPECT_TRUE(ipv4_address::parse("240.0.0.1").is_reserved());
  EXPECT_TRUE(ipv4_address::parse("8.8.8.8").is_global());
  EXPECT_TRUE(ipv4_address::parse("192.0.0.170").is_private());
  EXPECT_FALSE(ipv4_address::parse("192.0.0.10").is_private());
  EXPECT_EQ(ipv4_address::parse("172.16.0.1").historic_class(), 'B');
  EXPECT_EQ(ipv4_address::parse("223.255.255.255").historic_class(), 'C');
  EXPECT_EQ(ipv4_address::parse("239.0.0.0").historic_class(), 'D');
  EXPECT_EQ(ipv4_address::parse("255.0.0.0").historic_class(), 'E');
}

TEST(Ipv6, Rfc5952Formatting) {
  struct {
    const char* in;
    const char* out;
  } cases[] = {
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},     // first of equal runs
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},  // a single zero group stays
      {"2001:DB8::A", "2001:db8::a"},
      {"0:0:0:0:0:0:0:0", "::"},
      {"::1", "::1"},
      {"1::", "1::"},
      {"1:0:0:2:0:0:0:3", "1:0:0:2::3"},  // the longer run wins
      {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
      {"::ffff:c000:0201", "::ffff:192.0.2.1"},
      {"::192.0.2.1", "::c000:201"},
      {"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
  };
  for (const auto& c : cases) {
    auto a = ipv6_address::parse(c.in);
    EXPECT_EQ(a.to_string(), c.out) << c.in;
    EXPECT_EQ(ipv6_address::parse(a.to_string()), a) << c.in;
  }
  EXPECT_EQ(ipv6_address::parse("2001:db8::1").to_exploded(),
            "2001:0db8:0000:0000:0000:0000:0000:0001");
  EXPECT_EQ(ipv6_address::parse("::1").reverse_pointer().substr(0, 4), "1.0.");
}

TEST(Ipv6, EveryMalformedInputIsRejected) {
  for (const char* text : {"",
                           ":",
                           "::::",
                           ":::",
                           "1:2",
                           "1::2::3",
                           "12345::",
                           "1:2:3:4:5:6:7:8:9",
                           "1:2:3:4:5:6:7:8::",
                           "::1:2:3:4:5:6:7:8",
                           "1:2:3:4:5:6:7",
                           ":1:2:3:4:5:6:7:8",
                           "1:2:3:4:5:6:7:8:",
                           ":1::",
                           "1::2:",
                           "g::1",
                           "::1.2.3",
                           "::1.2.3.04",
                           "::256.1.1.1",
                           "1.2.3.4::",
                           "::1.2.3.4:5",
                           "1:2:3:4:5:6:7:1.2.3.4",
                           "fe80::1%eth0",
                           "[::1]",
                           " ::1",
                           "::1 ",
                           "::-1",
                           "::+1",
                           "1.2.3.4",
                           "::x",
                           "0x1::"}) {
    std::error_code ec;
    std::string why;
    ipv6_address::parse(text, ec, why);
    EXPECT_EQ(ec, errc::invalid_address) << text;
    EXPECT_FALSE(why.empty()) << text;
  }
}

TEST(Ipv6, AgreesWithInetPtonAndNtop) {
  std::mt19937 rng(3);
  const char alphabet[] = "0123456789abcdefABCDEF::::::...";
  for (int i = 0; i < 200000; ++i) {
    std::string s(rng() % 24, ' ');
    for (auto& c : s) c = alphabet[rng() % (sizeof alphabet - 1)];
    in6_addr out{};
    const bool libc = inet_pton(AF_INET6, s.c_str(), &out) == 1;
    std::error_code ec;
    auto a = ipv6_address::parse(s, ec);
    ASSERT_EQ(!ec, libc) << "'" << s << "'";
    if (!libc) continue;
    ipv6_address::bytes_type b{};
    std::memcpy(b.data(), &out, 16);
    ASSERT_EQ(a, ipv6_address{b}) << s;
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &out, text, sizeof text);
    // glibc prints ::a.b.c.d (IPv4-compatible, deprecated) in mixed notation; RFC 5952 only
    // asks that for IPv4-mapped addresses.
    if (!(a.to_uint() >> 32 == 0 && a.to_uint() > 0xffff)) {
      ASSERT_EQ(a.to_string(), text) << s;
    }
  }
}

TEST(Ipv6, Classification) {
  EXPECT_TRUE(ipv6_address::parse("fe80::1").is_link_local());
  EXPECT_TRUE(ipv6_address::parse("fc00::1").flags().is_unique_local);
  EXPECT_TRUE(ipv6_address::parse("fc00::1").is_private());
  EXPECT_TRUE(ipv6_address::parse("2001:db8::1").flags().is_documentation);
  EXPECT_TRUE(ipv6_address::parse("3fff::1").is_private());
  EXPECT_FALSE(ipv6_address::parse("2001:20::1").is_private());  // ORCHIDv2: an exception
  EXPECT_TRUE(ipv6_address::parse("2001:4860::1").is_private() == false);
  EXPECT_TRUE(ipv6_address::parse("2606:4700::1").is_global());
  EXPECT_TRUE(ipv6_address::parse("ff02::1").is_multicast());
  EXPECT_TRUE(ipv6_address::parse("fec0::1").is_site_local());
  EXPECT_TRUE(ipv6_address::parse("::ffff:10.0.0.1").flags().is_rfc1918);
  EXPECT_FALSE(ipv6_address::parse("::ffff:100.64.0.1").is_global());
  auto t = ipv6_address::parse("2001:0:4136:e378:8000:63bf:3fff:fdd2");
  EXPECT_TRUE(t.is_teredo());
  EXPECT_EQ(t.teredo_server().to_string(), "65.54.227.120");
  EXPECT_EQ(t.teredo_client().to_string(), "192.0.2.45");
  auto s = ipv6_address::parse("2002:c000:0204::1");
  EXPECT_EQ(s.sixtofour_v4().to_string(), "192.0.2.4");
}

TEST(IpAddress, EitherFamily) {
  EXPECT_TRUE(ip_address::parse("10.1.2.3").is_v4());
  EXPECT_TRUE(ip_address::parse("::1").is_v6());
  EXPECT_LT(ip_address::parse("255.255.255.255"), ip_address::parse("::"));
  EXPECT_EQ(ip_address::from_uint(1, ip_version::v6).to_string(), "::1");
  std::uint8_t b[16];
  EXPECT_EQ(ip_address::parse("1.2.3.4").to_bytes(b), 4u);
  EXPECT_EQ(ip_address::parse("::1").to_bytes(b), 16u);
  EXPECT_EQ(to_decimal(~uint128{0}), "340282366920938463463374607431768211455");
  EXPECT_EQ(to_decimal(0), "0");
}

}  // namespace
}  // namespace sockit::net
