// service::proxy_client: credentials' text forms (the handshakes themselves are tested
// against dante, tinyproxy and sockit's own SOCKS5 server in test_proxy.py).
#include "sockit/service/proxy_client.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using sockit::service::parse_proxy_credentials;

TEST(ProxyCredentials, FirstColonSplits) {
  auto c = parse_proxy_credentials("alice:pa:ss\r\n", "test");
  EXPECT_EQ(c.user, "alice");
  EXPECT_EQ(c.password, "pa:ss");
}

TEST(ProxyCredentials, Refusals) {
  EXPECT_THROW(parse_proxy_credentials("alice", "test"), std::runtime_error);
  EXPECT_THROW(parse_proxy_credentials(":pw", "test"), std::runtime_error);
  EXPECT_THROW(parse_proxy_credentials("alice:", "test"), std::runtime_error);
  EXPECT_THROW(parse_proxy_credentials("al\x1b"
                                       "ice:pw",
                                       "test"),
               std::runtime_error);
  EXPECT_THROW(parse_proxy_credentials("alice:" + std::string(256, 'p'), "test"),
               std::runtime_error);
  try {
    parse_proxy_credentials("nocolon", "SOCKIT_PROXY_AUTH");
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("SOCKIT_PROXY_AUTH"), std::string::npos);
  }
}
