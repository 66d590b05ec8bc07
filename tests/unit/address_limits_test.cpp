// Test that the header is self-contained: it comes first.
#include "sockit/session/address_limits.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sockit::session {
namespace {

using namespace std::chrono_literals;

std::string key_of_v4(const char* text, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, text, &a.sin_addr);
  return address_key(reinterpret_cast<const sockaddr*>(&a), sizeof a);
}

std::string key_of_v6(const char* text, std::uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  ::inet_pton(AF_INET6, text, &a.sin6_addr);
  return address_key(reinterpret_cast<const sockaddr*>(&a), sizeof a);
}

TEST(address_key, is_the_address_without_the_port) {
  EXPECT_EQ(key_of_v4("192.0.2.1", 1), key_of_v4("192.0.2.1", 2));
  EXPECT_NE(key_of_v4("192.0.2.1", 1), key_of_v4("192.0.2.2", 1));
  EXPECT_EQ(key_of_v4("192.0.2.1", 1).size(), 4u);
  EXPECT_EQ(key_of_v6("2001:db8::1", 1), key_of_v6("2001:db8::1", 9));
  EXPECT_EQ(key_of_v6("2001:db8::1", 1).size(), 16u);
  EXPECT_NE(key_of_v6("2001:db8::1", 1), key_of_v6("2001:db8::2", 1));
}

TEST(address_key, ipv4_mapped_ipv6_is_the_ipv4_address) {
  EXPECT_EQ(key_of_v6("::ffff:192.0.2.7", 5), key_of_v4("192.0.2.7", 6));
  // Not mapped: ::c000:207 (IPv4-compatible, deprecated) is an IPv6 address of its own.
  EXPECT_NE(key_of_v6("::192.0.2.7", 5), key_of_v4("192.0.2.7", 6));
}

TEST(address_key, unix_null_and_truncated_have_no_key) {
  sockaddr_un u{};
  u.sun_family = AF_UNIX;
  EXPECT_EQ(address_key(reinterpret_cast<const sockaddr*>(&u), sizeof u), "");
  EXPECT_EQ(address_key(nullptr, 0), "");
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  EXPECT_EQ(address_key(reinterpret_cast<const sockaddr*>(&a), 8), "");
}

TEST(address_counter, caps_each_address_and_frees_on_release) {
  address_counter c(2);
  std::string a = key_of_v4("192.0.2.1", 0), b = key_of_v4("192.0.2.2", 0);
  address_slot s1, s2, s3, s4;
  EXPECT_TRUE(c.try_claim(a, s1));
  EXPECT_TRUE(c.try_claim(a, s2));
  EXPECT_FALSE(c.try_claim(a, s3));
  EXPECT_FALSE(s3);
  EXPECT_TRUE(c.try_claim(b, s4));  // another address is not affected
  EXPECT_EQ(c.live(a), 2u);
  EXPECT_EQ(c.addresses(), 2u);
  s1.release();
  s1.release();  // twice is once
  EXPECT_EQ(c.live(a), 1u);
  EXPECT_TRUE(c.try_claim(a, s3));
  {
    address_slot moved = std::move(s3);  // the claim moves with the slot
    EXPECT_EQ(c.live(a), 2u);
  }
  EXPECT_EQ(c.live(a), 1u);
  s2 = address_slot();  // assignment releases what it replaces
  s4.release();
  EXPECT_EQ(c.addresses(), 0u);  // the table keeps only live addresses
}

TEST(address_counter, no_cap_and_no_key_are_never_refused_nor_counted) {
  address_counter none(0);
  std::string a = key_of_v4("192.0.2.1", 0);
  std::vector<address_slot> slots(100);
  for (auto& s : slots) EXPECT_TRUE(none.try_claim(a, s));
  EXPECT_EQ(none.addresses(), 0u);
  address_counter one(1);
  for (auto& s : slots) EXPECT_TRUE(one.try_claim("", s));
  EXPECT_EQ(one.addresses(), 0u);
}

TEST(address_counter, slots_may_outlive_the_counter_and_release_on_other_threads) {
  address_slot kept;
  {
    address_counter c(1);
    ASSERT_TRUE(c.try_claim(key_of_v4("192.0.2.1", 0), kept));
  }
  std::thread([&] { kept.release(); }).join();
  EXPECT_FALSE(kept);
}

TEST(source_limiter, a_burst_then_the_rate) {
  source_limiter lim(10, 5, 16);
  auto t = source_limiter::clock::now();
  std::string a = key_of_v4("192.0.2.1", 0);
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += lim.allow(a, t);
  EXPECT_EQ(allowed, 5);
  // 0.5 s later: 5 more tokens at 10 a second, never more than the burst.
  allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += lim.allow(a, t + 500ms);
  EXPECT_EQ(allowed, 5);
  allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += lim.allow(a, t + 1h);
  EXPECT_EQ(allowed, 5);
  // Another source has its own bucket.
  EXPECT_TRUE(lim.allow(key_of_v4("192.0.2.2", 0), t));
}

TEST(source_limiter, a_full_table_never_grows_nor_resets_a_limited_source) {
  source_limiter lim(1, 2, 4);
  auto t = source_limiter::clock::now();
  std::string victim = key_of_v4("198.51.100.1", 0);
  EXPECT_TRUE(lim.allow(victim, t));
  EXPECT_TRUE(lim.allow(victim, t));
  EXPECT_FALSE(lim.allow(victim, t));  // empty
  // A flood of new (spoofed) sources: the table stays at 4, the victim is not forgotten.
  int admitted = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string k = key_of_v6("2001:db8::", 0);
    k[15] = static_cast<char>(i & 0xff);
    k[14] = static_cast<char>(i >> 8);
    admitted += lim.allow(k, t);
    EXPECT_LE(lim.sources(), 4u);
  }
  EXPECT_EQ(admitted, 3);              // only the free places; the rest wait
  EXPECT_FALSE(lim.allow(victim, t));  // still limited: no fresh bucket
  // Once the oldest source's bucket has refilled, forgetting it changes nothing: a newcomer
  // takes its place.
  auto later = t + 10s;
  EXPECT_TRUE(lim.allow(key_of_v4("192.0.2.9", 0), later));
  EXPECT_EQ(lim.sources(), 4u);
}

}  // namespace
}  // namespace sockit::session
