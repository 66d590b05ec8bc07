// Test that the header is self-contained: it comes first.
#include "sockit/net/fragment.hpp"

#include <gtest/gtest.h>

#include "sockit/net/error.hpp"

namespace sockit::net {
namespace {

TEST(Fragmentation, TheSeedsFiveThousandBytes) {
  std::error_code ec;
  auto f = fragmentation::plan(ip_version::v4, 5000, 1500, 20, ec);
  ASSERT_FALSE(ec);
  ASSERT_EQ(f.count(), 4u);
  const std::uint32_t totals[] = {1500, 1500, 1500, 560};
  const std::uint32_t fields[] = {0, 185, 370, 555};
  for (std::uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(f.at(i).total_length, totals[i]);
    EXPECT_EQ(f.at(i).offset_field(), fields[i]);
    EXPECT_EQ(f.at(i).more_fragments, i < 3);
  }
  EXPECT_EQ(f.at(0).ethernet_frame(), 1518u);
  EXPECT_EQ(f.tcp_mss(), 1460u);
  EXPECT_EQ(f.udp_max_unfragmented(), 1472u);
  EXPECT_EQ(f.total_ip_bytes(), 5060u);
}

TEST(Fragmentation, FitsAndOddMtus) {
  std::error_code ec;
  auto one = fragmentation::plan(ip_version::v4, 1500, 1500, 20, ec);
  EXPECT_EQ(one.count(), 1u);
  EXPECT_FALSE(one.at(0).more_fragments);
  EXPECT_EQ(fragmentation::plan(ip_version::v4, 40, 1500, 20, ec).at(0).ethernet_frame(), 64u);
  auto odd = fragmentation::plan(ip_version::v4, 1000, 577, 20, ec);  // 557 -> 552 per fragment
  EXPECT_EQ(odd.max_fragment_payload(), 552u);
  EXPECT_EQ(odd.count(), 2u);
  auto v6 = fragmentation::plan(ip_version::v6, 5000, 1500, 40, ec);
  EXPECT_EQ(v6.max_fragment_payload(), 1448u);
  EXPECT_EQ(v6.at(0).total_length, 1496u);
  EXPECT_EQ(v6.tcp_mss(), 1440u);
}

TEST(Fragmentation, BadInputs) {
  struct {
    ip_version v;
    std::uint32_t size, mtu, header;
  } cases[] = {{ip_version::v4, 70000, 1500, 20}, {ip_version::v4, 5000, 67, 20},
               {ip_version::v4, 5000, 1500, 22},  {ip_version::v4, 5000, 1500, 64},
               {ip_version::v4, 10, 1500, 20},    {ip_version::v6, 5000, 1279, 40},
               {ip_version::v6, 5000, 1500, 44},  {ip_version::v6, 70000, 1500, 40},
               {ip_version::v4, 5000, 200000, 20}};
  for (const auto& c : cases) {
    std::error_code ec;
    std::string why;
    fragmentation::plan(c.v, c.size, c.mtu, c.header, ec, &why);
    EXPECT_EQ(ec, errc::invalid_size) << c.size << " " << c.mtu << " " << c.header;
    EXPECT_FALSE(why.empty());
  }
}

}  // namespace
}  // namespace sockit::net
