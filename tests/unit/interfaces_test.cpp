// Test that the header is self-contained: it comes first.
#include "sockit/net/interfaces.hpp"

#include <gtest/gtest.h>

namespace sockit::net {
namespace {

TEST(Interfaces, LoopbackIsListed) {
  std::error_code ec;
  auto list = list_interfaces(ec);
  ASSERT_FALSE(ec);
  bool found = false;
  for (const auto& i : list) {
    if (!i.is_loopback()) continue;
    for (const auto& a : i.addresses) {
      if (a.address == ip_address::parse("127.0.0.1")) {
        found = true;
        EXPECT_EQ(a.prefix, 8u);
      }
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace sockit::net
