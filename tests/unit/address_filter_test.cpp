#include "sockit/net/address_filter.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>

namespace sockit::net {
namespace {

address_filter make(std::vector<const char*> allow, std::vector<const char*> deny) {
  std::vector<subnet> a, d;
  for (auto* s : allow) a.push_back(subnet::parse(s));
  for (auto* s : deny) d.push_back(subnet::parse(s));
  return {std::move(a), std::move(d)};
}

bool admits_v4(const address_filter& f, const char* text) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  inet_pton(AF_INET, text, &in.sin_addr);
  return f.admits(reinterpret_cast<const sockaddr*>(&in), sizeof in);
}

bool admits_v6(const address_filter& f, const char* text) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, text, &in6.sin6_addr);
  return f.admits(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
}

TEST(AddressFilter, EmptyAdmitsEveryone) {
  address_filter f;
  EXPECT_TRUE(f.empty());
  EXPECT_TRUE(admits_v4(f, "203.0.113.9"));
  EXPECT_TRUE(admits_v6(f, "2001:db8::1"));
}

TEST(AddressFilter, AllowListAdmitsOnlyItsSubnets) {
  auto f = make({"192.168.1.0/24", "2001:db8::/32"}, {});
  EXPECT_TRUE(admits_v4(f, "192.168.1.200"));
  EXPECT_FALSE(admits_v4(f, "192.168.2.1"));
  EXPECT_TRUE(admits_v6(f, "2001:db8:1::5"));
  EXPECT_FALSE(admits_v6(f, "2001:db9::5"));
}

TEST(AddressFilter, DenyWinsOverAllow) {
  auto f = make({"10.0.0.0/8"}, {"10.0.0.7/32"});
  EXPECT_TRUE(admits_v4(f, "10.0.0.6"));
  EXPECT_FALSE(admits_v4(f, "10.0.0.7"));
  auto deny_only = make({}, {"127.0.0.0/8"});
  EXPECT_FALSE(admits_v4(deny_only, "127.0.0.1"));
  EXPECT_TRUE(admits_v4(deny_only, "192.0.2.1"));
}

TEST(AddressFilter, MappedIpv6IsMatchedAsIpv4) {
  auto f = make({"192.168.1.0/24"}, {"192.168.1.7/32"});
  EXPECT_TRUE(admits_v6(f, "::ffff:192.168.1.5"));
  EXPECT_FALSE(admits_v6(f, "::ffff:192.168.1.7"));
  EXPECT_FALSE(admits_v6(f, "::ffff:10.0.0.1"));
}

TEST(AddressFilter, UnixPeersPassAndOddAddressesDoNot) {
  auto f = make({"192.168.1.0/24"}, {});
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  EXPECT_TRUE(f.admits(reinterpret_cast<const sockaddr*>(&un), sizeof(sa_family_t)));
  sockaddr_in short_in{};
  short_in.sin_family = AF_INET;
  EXPECT_FALSE(f.admits(reinterpret_cast<const sockaddr*>(&short_in), 4));
  EXPECT_FALSE(f.admits(nullptr, 0));
}

}  // namespace
}  // namespace sockit::net
