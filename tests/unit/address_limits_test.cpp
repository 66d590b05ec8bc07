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
}

TEST(address_key, ipv6_is_grouped_by_its_64_prefix) {
  // One host with a /64 can use any of its 2^64 addresses: they are one peer.
  EXPECT_EQ(key_of_v6("2001:db8:1:2::1", 1), key_of_v6("2001:db8:1:2::2", 1));
  EXPECT_EQ(key_of_v6("2001:db8:1:2::1", 1), key_of_v6("2001:db8:1:2:ffff:ffff:ffff:ffff", 7));
  EXPECT_EQ(key_of_v6("2001:db8:1:2::1", 1).size(), 8u);
  // The next /64 (last bit of the prefix), or any other, is another peer.
  EXPECT_NE(key_of_v6("2001:db8:1:2::1", 1), key_of_v6("2001:db8:1:3::1", 1));
  EXPECT_NE(key_of_v6("2001:db8:1:2::1", 1), key_of_v6("2001:db9:1:2::1", 1));
  // ::1 is the loopback host; unlike ::ffff:a.b.c.d it is not an IPv4 address.
  EXPECT_EQ(key_of_v6("::1", 1).size(), 8u);
  // An IPv6 key never equals an IPv4 key, even where the bytes agree.
  EXPECT_EQ(key_of_v6("c000:207::", 1).substr(0, 4), key_of_v4("192.0.2.7", 1));
  EXPECT_NE(key_of_v6("c000:207::", 1), key_of_v4("192.0.2.7", 1));
}

TEST(address_key, link_local_ipv6_keeps_the_address_and_its_scope) {
  // Every host of a link shares fe80::/64: grouping there would cap them all together.
  EXPECT_NE(key_of_v6("fe80::1", 1), key_of_v6("fe80::2", 1));
  EXPECT_EQ(key_of_v6("fe80::1", 1), key_of_v6("fe80::1", 2));
  sockaddr_in6 a{}, b{};
  a.sin6_family = b.sin6_family = AF_INET6;
  ::inet_pton(AF_INET6, "fe80::1", &a.sin6_addr);
  b.sin6_addr = a.sin6_addr;
  a.sin6_scope_id = 2;
  b.sin6_scope_id = 3;  // the same address on another link is another host
  EXPECT_NE(address_key(reinterpret_cast<const sockaddr*>(&a), sizeof a),
            address_key(reinterpret_cast<const sockaddr*>(&b), sizeof b));
  EXPECT_EQ(address_key(reinterpret_cast<const sockaddr*>(&a), sizeof a).size(), 20u);
}

TEST(address_counter, one_ipv6_64_shares_one_cap) {
  address_counter c(2);
  address_slot s1, s2, s3, s4;
  EXPECT_TRUE(c.try_claim(key_of_v6("2001:db8:0:1::a", 0), s1));
  EXPECT_TRUE(c.try_claim(key_of_v6("2001:db8:0:1::b", 0), s2));
  EXPECT_FALSE(c.try_claim(key_of_v6("2001:db8:0:1::c", 0), s3));  // a third address: refused
  EXPECT_TRUE(c.try_claim(key_of_v6("2001:db8:0:2::a", 0), s4));   // another /64
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

TEST(source_limiter, bytes_are_limited_too_and_a_refusal_takes_nothing) {
  source_limiter lim(source_limiter::limits{1000, 100, 1000, 3000}, 16);
  auto t = source_limiter::clock::now();
  std::string a = key_of_v4("192.0.2.1", 0);
  EXPECT_TRUE(lim.allow(a, t, 2000));
  EXPECT_FALSE(lim.allow(a, t, 2000));  // 1000 bytes left
  EXPECT_TRUE(lim.allow(a, t, 1000));   // the refusal took no bytes (nor a message)
  EXPECT_FALSE(lim.allow(a, t, 1));
  // 1 s later, 1000 bytes more; never more than the byte burst.
  EXPECT_FALSE(lim.allow(a, t + 1s, 1001));
  EXPECT_TRUE(lim.allow(a, t + 1s, 1000));
  EXPECT_TRUE(lim.allow(a, t + 1h, 3000));
  EXPECT_FALSE(lim.allow(a, t + 1h, 1));
  // Larger than the byte burst: never.
  EXPECT_FALSE(lim.allow(key_of_v4("192.0.2.2", 0), t + 2h, 3001));
  // The message bucket still applies when bytes are plentiful.
  source_limiter msgs(source_limiter::limits{1, 3, 1e9, 1e9}, 16);
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += msgs.allow(a, t, 1);
  EXPECT_EQ(allowed, 3);
}

TEST(source_limiter, a_source_is_forgotten_only_when_both_buckets_are_full) {
  source_limiter lim(source_limiter::limits{1000, 2, 1, 100}, 1);
  auto t = source_limiter::clock::now();
  std::string a = key_of_v4("192.0.2.1", 0), b = key_of_v4("192.0.2.2", 0);
  EXPECT_TRUE(lim.allow(a, t, 100));
  // 1 s on, a's message bucket is full again but its bytes are at 1 of 100.
  EXPECT_FALSE(lim.allow(b, t + 1s, 1));
  EXPECT_TRUE(lim.allow(b, t + 100s, 1));
  EXPECT_EQ(lim.sources(), 1u);
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
    std::string k = key_of_v6("2001:db8::", 0);  // a /64 each
    k[7] = static_cast<char>(i & 0xff);
    k[6] = static_cast<char>(i >> 8);
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
