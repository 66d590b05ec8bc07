// Test that the header is self-contained: it comes first.
#include "sockit/net/lookup.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "sockit/net/error.hpp"

namespace sockit::net {
namespace {

TEST(Services, BothWays) {
  auto http = service_by_name("http", "tcp");
  ASSERT_TRUE(http);
  EXPECT_EQ(http->port, 80);
  EXPECT_EQ(http->protocol, "tcp");
  auto by_port = service_by_port(80, "tcp");
  ASSERT_TRUE(by_port);
  EXPECT_EQ(by_port->name, "http");
  EXPECT_EQ(service_by_name("mysql")->port, 3306);
  EXPECT_FALSE(service_by_name("no-such-service"));
  EXPECT_FALSE(service_by_name(""));
  EXPECT_FALSE(service_by_name(std::string_view("http\0x", 6)));
  EXPECT_FALSE(service_by_port(1, "no-such-proto"));
}

TEST(Services, PortRanges) {
  EXPECT_EQ(classify_port(0), port_range::well_known);
  EXPECT_EQ(classify_port(1023), port_range::well_known);
  EXPECT_EQ(classify_port(1024), port_range::registered);
  EXPECT_EQ(classify_port(49151), port_range::registered);
  EXPECT_EQ(classify_port(49152), port_range::dynamic);
  EXPECT_STREQ(to_string(port_range::dynamic), "dynamic");
}

TEST(Services, SafeFromManyThreads) {
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        auto e = service_by_name(i % 2 ? "http" : "ssh", "tcp");
        if (!e || e->port != (i % 2 ? 80 : 22)) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(Lookup, LocalhostAndLiterals) {
  std::error_code ec;
  auto r = lookup_host("localhost", address_family::v4, ec);
  ASSERT_FALSE(ec);
  ASSERT_FALSE(r.addresses.empty());
  EXPECT_EQ(r.addresses.front().to_string(), "127.0.0.1");
  auto lit = lookup_host("::1", address_family::any, ec, nullptr, "443");
  ASSERT_FALSE(ec);
  EXPECT_EQ(lit.addresses.front().to_string(), "::1");
  EXPECT_EQ(lit.port, 443);
  std::string why;
  lookup_host("localhost", address_family::any, ec, &why, "no-such-service");
  EXPECT_EQ(ec, errc::unknown_service);
  lookup_host("", address_family::any, ec, &why);
  EXPECT_EQ(ec, errc::resolve_failed);
  lookup_host("name.invalid", address_family::any, ec, &why);
  EXPECT_EQ(ec, errc::resolve_failed);
  EXPECT_NE(why.find("name.invalid"), std::string::npos);
}

TEST(Lookup, ReverseLoopback) {
  std::error_code ec;
  auto r = reverse_lookup(ip_address::parse("127.0.0.1"), ec);
  ASSERT_FALSE(ec);
  EXPECT_FALSE(r.name.empty());
  EXPECT_EQ(r.pointer, "1.0.0.127.in-addr.arpa");
  EXPECT_FALSE(host_name().empty());
}

}  // namespace
}  // namespace sockit::net
