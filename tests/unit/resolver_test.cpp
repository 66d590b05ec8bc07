// Test that the header is self-contained: it comes first.
#include "sockit/net/resolver.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "sockit/net/error.hpp"

namespace sockit::net {
namespace {

// Only literals, "localhost" (from /etc/hosts) and names glibc rejects locally: the tests
// never send a DNS query.

TEST(Resolver, Ipv4Literal) {
  std::error_code ec;
  auto addrs = resolve(endpoint::parse("127.0.0.1:80"), resolve_mode::connect, ec);
  ASSERT_FALSE(ec);
  ASSERT_EQ(addrs.size(), 1u);
  EXPECT_EQ(addrs[0].family(), AF_INET);
  EXPECT_EQ(addrs[0].host(), "127.0.0.1");
  EXPECT_EQ(addrs[0].port(), 80);
}

TEST(Resolver, Ipv6Literal) {
  std::error_code ec;
  auto addrs = resolve(endpoint::parse("[::1]:443"), resolve_mode::connect, ec);
  ASSERT_FALSE(ec);
  ASSERT_EQ(addrs.size(), 1u);
  EXPECT_EQ(addrs[0].family(), AF_INET6);
  EXPECT_EQ(addrs[0].to_string(), "tcp://[::1]:443");
}

TEST(Resolver, LocalhostGivesLoopbackAddressesOnly) {
  std::error_code ec;
  auto addrs = resolve(endpoint::parse("localhost:7"), resolve_mode::connect, ec);
  ASSERT_FALSE(ec);
  ASSERT_FALSE(addrs.empty());
  for (const auto& a : addrs) {
    EXPECT_TRUE(a.host() == "127.0.0.1" || a.host() == "::1") << a.host();
    EXPECT_EQ(a.port(), 7);
  }
}

TEST(Resolver, OneAddressPerSocketType) {
  // The hints ask for one socket type, so no duplicate per protocol.
  std::error_code ec;
  auto tcp = resolve(endpoint::parse("127.0.0.1:1"), resolve_mode::connect, ec);
  auto udp = resolve(endpoint::parse("udp://127.0.0.1:1"), resolve_mode::connect, ec);
  EXPECT_EQ(tcp.size(), 1u);
  EXPECT_EQ(udp.size(), 1u);
}

TEST(Resolver, EmptyHostConnectsToLoopback) {
  std::error_code ec;
  auto addrs = resolve(endpoint::parse(":9"), resolve_mode::connect, ec);
  ASSERT_FALSE(ec);
  ASSERT_FALSE(addrs.empty());
  for (const auto& a : addrs) EXPECT_TRUE(a.host() == "127.0.0.1" || a.host() == "::1") << a.host();
}

TEST(Resolver, EmptyHostListensOnEveryInterface) {
  std::error_code ec;
  auto addrs = resolve(endpoint::parse(":9"), resolve_mode::listen, ec);
  ASSERT_FALSE(ec);
  ASSERT_FALSE(addrs.empty());
  EXPECT_TRUE(addrs[0].host() == "::" || addrs[0].host() == "0.0.0.0") << addrs[0].host();
  EXPECT_EQ(addrs[0].port(), 9);
}

TEST(Resolver, UnixNeverFails) {
  std::error_code ec = make_error_code(errc::resolve_failed);
  auto addrs = resolve(endpoint::unix_socket("/nonexistent/dir/s"), resolve_mode::connect, ec);
  EXPECT_FALSE(ec);
  ASSERT_EQ(addrs.size(), 1u);
  EXPECT_EQ(addrs[0].family(), AF_UNIX);
  EXPECT_EQ(addrs[0].host(), "/nonexistent/dir/s");
}

TEST(Resolver, FailureNamesTheHost) {
  std::error_code ec;
  std::string why;
  auto addrs = resolve(endpoint::inet("a..b", 80), resolve_mode::connect, ec, &why);
  EXPECT_TRUE(addrs.empty());
  EXPECT_EQ(ec, make_error_code(errc::resolve_failed));
  EXPECT_NE(why.find("'a..b'"), std::string::npos) << why;
  // `why` is optional.
  std::error_code ec2;
  resolve(endpoint::inet("a..b", 80), resolve_mode::listen, ec2);
  EXPECT_EQ(ec2, make_error_code(errc::resolve_failed));
}

TEST(Resolver, ClearsAStaleError) {
  std::error_code ec = make_error_code(errc::invalid_port);
  resolve(endpoint::parse("127.0.0.1:1"), resolve_mode::connect, ec);
  EXPECT_FALSE(ec);
}

}  // namespace
}  // namespace sockit::net
