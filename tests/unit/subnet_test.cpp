// Test that the header is self-contained: it comes first.
#include "sockit/net/subnet.hpp"

#include <gtest/gtest.h>

#include "sockit/net/error.hpp"

namespace sockit::net {
namespace {

constexpr subnet seeds_lan() { return subnet{}; }
static_assert(seeds_lan().prefix() == 0);
static_assert([] {
  unsigned p = 0;
  return subnet::mask_to_prefix(ipv4_address{0xffffff00u}, p) && p == 24 &&
         !subnet::mask_to_prefix(ipv4_address{0xff00ff00u}, p);
}());

TEST(Subnet, TheSeedsExample) {
  auto a = subnet::parse("172.16.10.1/255.255.255.0");
  auto b = subnet::parse("172.16.10.2/24");
  EXPECT_EQ(a.prefix(), 24u);
  EXPECT_EQ(a.network(), b.network());
  EXPECT_EQ(a.network().to_string(), "172.16.10.0");
  EXPECT_EQ(a.broadcast().to_string(), "172.16.10.255");
  EXPECT_EQ(a.hostmask().to_string(), "0.0.0.255");
  EXPECT_EQ(a.first_host().to_string(), "172.16.10.1");
  EXPECT_EQ(a.last_host().to_string(), "172.16.10.254");
  EXPECT_EQ(a.host_count(), 254u);
  EXPECT_EQ(a.address_count_string(), "256");
  EXPECT_TRUE(a.contains(ip_address::parse("172.16.10.200")));
  EXPECT_FALSE(a.contains(ip_address::parse("172.16.11.1")));
  EXPECT_FALSE(a.contains(ip_address::parse("::1")));
  EXPECT_TRUE(a.has_host_bits());
  EXPECT_EQ(a.network_subnet().to_string(), "172.16.10.0/24");
}

TEST(Subnet, EdgePrefixes) {
  auto s31 = subnet::parse("10.0.0.0/31");  // RFC 3021
  EXPECT_EQ(s31.host_count(), 2u);
  EXPECT_EQ(s31.first_host().to_string(), "10.0.0.0");
  EXPECT_EQ(s31.last_host().to_string(), "10.0.0.1");
  auto s32 = subnet::parse("10.0.0.7");
  EXPECT_EQ(s32.prefix(), 32u);
  EXPECT_EQ(s32.host_count(), 1u);
  EXPECT_EQ(s32.first_host(), s32.last_host());
  auto all = subnet::parse("0.0.0.0/0");
  EXPECT_EQ(all.host_count(), 4294967294u);
  EXPECT_EQ(all.broadcast().to_string(), "255.255.255.255");
  auto v6all = subnet::parse("::/0");
  EXPECT_EQ(v6all.address_count_string(), "340282366920938463463374607431768211456");
  EXPECT_EQ(to_decimal(v6all.host_count()), "340282366920938463463374607431768211455");
  auto v6 = subnet::parse("2001:db8::1/64");
  EXPECT_EQ(v6.first_host().to_string(), "2001:db8::1");
  EXPECT_EQ(v6.last_host().to_string(), "2001:db8::ffff:ffff:ffff:ffff");
  EXPECT_EQ(v6.netmask().to_string(), "ffff:ffff:ffff:ffff::");
  EXPECT_EQ(subnet::parse("::1/127").host_count(), 2u);
  EXPECT_EQ(subnet::parse("::1/128").host_count(), 1u);
  EXPECT_EQ(subnet::parse("2001:db8::/126").host_count(), 3u);
}

TEST(Subnet, RoundTrip) {
  for (const char* t : {"192.168.1.5/24", "0.0.0.0/0", "255.255.255.255/32", "2001:db8::1/64",
                        "::/0", "::ffff:1.2.3.4/120"}) {
    auto s = subnet::parse(t);
    EXPECT_EQ(s.to_string(), t);
    EXPECT_EQ(subnet::parse(s.to_string()), s);
  }
  EXPECT_EQ(subnet::parse("10.0.0.1/024").prefix(), 24u);  // as Python's ipaddress reads it
}

TEST(Subnet, MalformedInputsSayWhy) {
  struct {
    const char* text;
    errc code;
    const char* mentions;
  } cases[] = {
      {"1.2.3.4/33", errc::invalid_prefix, "0-32"},
      {"::/129", errc::invalid_prefix, "0-128"},
      {"1.2.3.4/", errc::invalid_prefix, "missing"},
      {"1.2.3.4/24/8", errc::invalid_prefix, "more than one"},
      {"1.2.3.4/-1", errc::invalid_prefix, "not a number"},
      {"1.2.3.4/ 24", errc::invalid_prefix, "not a number"},
      {"1.2.3.4/99999999999999999999", errc::invalid_prefix, "0-32"},
      {"1.2.3.4/255.0.255.0", errc::invalid_mask, "not contiguous"},
      {"1.2.3.4/0.0.0.255", errc::invalid_mask, "wildcard"},
      {"1.2.3.4/255.255.255.256", errc::invalid_mask, "netmask"},
      {"256.1.1.1/24", errc::invalid_address, "more than 255"},
      {"/24", errc::invalid_address, "empty"},
      {"::1/ffff::", errc::invalid_prefix, "IPv6"},
      {"", errc::invalid_address, "empty"},
  };
  for (const auto& c : cases) {
    std::error_code ec;
    std::string why;
    subnet::parse(c.text, ec, why);
    EXPECT_EQ(ec, c.code) << c.text;
    EXPECT_NE(why.find(c.mentions), std::string::npos) << c.text << ": " << why;
    std::error_code ec2;
    subnet::parse(c.text, ec2);
    EXPECT_EQ(ec2, c.code) << c.text;
  }
  EXPECT_THROW(subnet(ip_address::parse("1.2.3.4"), 33), std::system_error);
}

TEST(Subnet, SplitAndContainment) {
  auto net = subnet::parse("10.0.0.0/24");
  EXPECT_EQ(net.nth_subnet(26, 0).to_string(), "10.0.0.0/26");
  EXPECT_EQ(net.nth_subnet(26, 3).to_string(), "10.0.0.192/26");
  EXPECT_TRUE(net.contains(net.nth_subnet(26, 2)));
  EXPECT_FALSE(net.nth_subnet(26, 2).contains(net));
  unsigned p = 0;
  ASSERT_TRUE(prefix_for_hosts(ip_version::v4, 50, p));
  EXPECT_EQ(p, 26u);
  ASSERT_TRUE(prefix_for_hosts(ip_version::v4, 2, p));
  EXPECT_EQ(p, 31u);
  ASSERT_TRUE(prefix_for_hosts(ip_version::v6, 1, p));
  EXPECT_EQ(p, 128u);
  EXPECT_FALSE(prefix_for_hosts(ip_version::v4, 4294967295u, p));
}

TEST(Subnet, NetworkFlagsFollowPython) {
  EXPECT_TRUE(subnet::parse("10.0.0.0/8").flags().is_private);
  EXPECT_FALSE(subnet::parse("100.64.0.0/10").flags().is_global);
  EXPECT_FALSE(subnet::parse("100.64.0.0/10").flags().is_private);
  // Both ends inside one block: 192.0.0.8/29 holds the exception 192.0.0.9 but its ends do not.
  EXPECT_TRUE(subnet::parse("192.0.0.8/29").flags().is_private);
  EXPECT_FALSE(subnet::parse("0.0.0.0/0").flags().is_private);
  EXPECT_TRUE(subnet::parse("224.0.0.0/4").flags().is_multicast);
  EXPECT_TRUE(subnet::parse("::ffff:0:0/96").flags().is_private);
}

}  // namespace
}  // namespace sockit::net
