// Test that the header is self-contained: it comes first.
#include "sockit/net/endpoint.hpp"

#include <gtest/gtest.h>

#include "sockit/net/error.hpp"

namespace sockit::net {
namespace {

TEST(Endpoint, HostAndPort) {
  auto e = endpoint::parse("127.0.0.1:8080");
  EXPECT_EQ(e.type(), endpoint::kind::inet);
  EXPECT_EQ(e.host(), "127.0.0.1");
  EXPECT_EQ(e.port(), 8080);
  EXPECT_EQ(e.proto(), transport::tcp);
  EXPECT_EQ(e.to_string(), "tcp://127.0.0.1:8080");
}

TEST(Endpoint, BracketedIpv6) {
  auto e = endpoint::parse("[::1]:53", transport::udp);
  EXPECT_EQ(e.host(), "::1");
  EXPECT_EQ(e.port(), 53);
  EXPECT_EQ(e.proto(), transport::udp);
  EXPECT_EQ(e.to_string(), "udp://[::1]:53");
}

TEST(Endpoint, AllInterfacesForms) {
  for (const char* text : {":9000", "9000", "tcp://:9000"}) {
    auto e = endpoint::parse(text);
    EXPECT_TRUE(e.host().empty()) << text;
    EXPECT_EQ(e.port(), 9000) << text;
  }
  EXPECT_EQ(endpoint::parse("0").port(), 0);
}

TEST(Endpoint, SchemePrefixOverridesFallback) {
  EXPECT_EQ(endpoint::parse("udp://localhost:1", transport::tcp).proto(), transport::udp);
  EXPECT_EQ(endpoint::parse("TCP://localhost:1", transport::udp).proto(), transport::tcp);
}

TEST(Endpoint, ServiceNames) {
  EXPECT_EQ(endpoint::parse("localhost:http").port(), 80);
  EXPECT_EQ(endpoint::parse("[::1]:https").port(), 443);
  EXPECT_EQ(endpoint::parse("udp://localhost:domain").port(), 53);
}

TEST(Endpoint, UnixPathAndAbstract) {
  auto p = endpoint::parse("unix:/tmp/s.sock");
  EXPECT_EQ(p.type(), endpoint::kind::unix_path);
  EXPECT_EQ(p.path(), "/tmp/s.sock");
  EXPECT_EQ(p.to_string(), "unix:/tmp/s.sock");
  auto a = endpoint::parse("unix:@name");
  EXPECT_EQ(a.type(), endpoint::kind::unix_abstract);
  EXPECT_EQ(a.path(), "name");
  EXPECT_EQ(a.to_string(), "unix:@name");
  EXPECT_EQ(endpoint::parse("unix:relative.sock").path(), "relative.sock");
}

TEST(Endpoint, RoundTrip) {
  for (const char* text : {"tcp://127.0.0.1:1", "udp://[fe80::1%lo]:65535", "tcp://:0",
                           "unix:/a b/c", "unix:@x", "tcp://example.com:22"}) {
    auto e = endpoint::parse(text);
    EXPECT_EQ(endpoint::parse(e.to_string()), e) << text;
    EXPECT_EQ(e.to_string(), text);
  }
}

struct bad_case {
  const char* text;
  errc code;
  const char* mentions;
};

class EndpointErrors : public ::testing::TestWithParam<bad_case> {};

TEST_P(EndpointErrors, ClearErrorNamingThePart) {
  const auto& c = GetParam();
  std::error_code ec;
  std::string why;
  auto e = endpoint::parse(c.text, ec, why);
  EXPECT_EQ(ec, make_error_code(c.code)) << c.text << " -> " << why;
  EXPECT_NE(why.find(c.mentions), std::string::npos) << c.text << " -> " << why;
  EXPECT_THROW(endpoint::parse(c.text), std::system_error);
  std::error_code ec2;
  endpoint::parse(c.text, ec2);  // the noexcept form agrees
  EXPECT_EQ(ec2, ec);
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, EndpointErrors,
    ::testing::Values(bad_case{"", errc::invalid_endpoint, "empty"},
                      bad_case{"localhost", errc::invalid_port, "missing port"},
                      bad_case{"localhost:", errc::invalid_port, "missing port"},
                      bad_case{"host:65536", errc::invalid_port, "out of range"},
                      bad_case{"host:99999999999999999999", errc::invalid_port, "out of range"},
                      bad_case{"host:-1", errc::invalid_port, "neither"},
                      bad_case{"host:nosuchservice", errc::unknown_service, "nosuchservice"},
                      bad_case{"::1:80", errc::invalid_endpoint, "brackets"},
                      bad_case{"[::1]", errc::invalid_port, "missing port"},
                      bad_case{"[::1", errc::invalid_endpoint, "']'"},
                      bad_case{"[::1]80", errc::invalid_endpoint, "':'"},
                      bad_case{"[zz::1]:80", errc::invalid_address, "zz::1"},
                      bad_case{"[]:80", errc::invalid_address, "IPv6"},
                      bad_case{"bad host:80", errc::invalid_address, "bad host"},
                      bad_case{"http://x:80", errc::invalid_endpoint, "scheme"},
                      bad_case{"tcp://", errc::invalid_endpoint, "missing"},
                      bad_case{"unix:", errc::invalid_endpoint, "empty path"},
                      bad_case{"unix:@", errc::invalid_endpoint, "abstract"}));

TEST(Endpoint, UnixPathLimit) {
  std::string ok(endpoint::max_unix_path, 'a');
  EXPECT_NO_THROW(endpoint::parse("unix:/" + ok.substr(1)));
  std::error_code ec;
  std::string why;
  endpoint::parse("unix:/" + ok, ec, why);
  EXPECT_EQ(ec, make_error_code(errc::path_too_long));
  EXPECT_NE(why.find("107"), std::string::npos) << why;
}

TEST(Endpoint, ErrorCategoryNamesCodes) {
  EXPECT_STREQ(error_category().name(), "sockit");
  EXPECT_EQ(make_error_code(errc::invalid_port).message(), "invalid port");
}

}  // namespace
}  // namespace sockit::net

namespace sockit::net {
namespace {

TEST(Endpoint, UnixTripleSlashForm) {
  auto e = endpoint::parse("unix:///run/x.sock");
  EXPECT_EQ(e.type(), endpoint::kind::unix_path);
  EXPECT_EQ(e.path(), "/run/x.sock");
  EXPECT_EQ(e.to_string(), "unix:/run/x.sock");
}

TEST(Endpoint, UnixPathStartingWithTwoSlashesRoundTrips) {
  // "unix:////v" is the path "//v"; its text used to be "unix://v", which parses as "v".
  auto e = endpoint::parse("unix:////v//w");
  EXPECT_EQ(e.path(), "//v//w");
  EXPECT_EQ(e.to_string(), "unix:////v//w");
  EXPECT_EQ(endpoint::parse(e.to_string()), e);
  EXPECT_EQ(endpoint::parse(endpoint::unix_socket("//").to_string()).path(), "//");
}

TEST(Endpoint, UnixIgnoresTheFallbackTransport) {
  auto e = endpoint::parse("unix:/x", transport::udp);
  EXPECT_TRUE(e.is_unix());
  EXPECT_EQ(e.to_string(), "unix:/x");
}

TEST(Endpoint, LeadingZerosAndLimits) {
  EXPECT_EQ(endpoint::parse("h:0080").port(), 80);
  EXPECT_EQ(endpoint::parse("h:65535").port(), 65535);
  EXPECT_EQ(endpoint::parse("65535").port(), 65535);
  std::error_code ec;
  endpoint::parse("65536", ec);
  EXPECT_EQ(ec, make_error_code(errc::invalid_port));
}

TEST(Endpoint, WithTransportAndPortKeepTheRest) {
  auto e = endpoint::parse("[::1]:80");
  auto u = e.with_transport(transport::udp).with_port(53);
  EXPECT_EQ(u.to_string(), "udp://[::1]:53");
  EXPECT_EQ(e.to_string(), "tcp://[::1]:80");  // the original is unchanged
  EXPECT_NE(u, e);
}

TEST(Endpoint, ServiceLookupPerTransport) {
  std::uint16_t port = 0;
  EXPECT_TRUE(lookup_service_port("ssh", transport::tcp, port));
  EXPECT_EQ(port, 22);
  EXPECT_TRUE(lookup_service_port("domain", transport::udp, port));
  EXPECT_EQ(port, 53);
  EXPECT_FALSE(lookup_service_port("no-such-service-xyz", transport::tcp, port));
  EXPECT_FALSE(lookup_service_port("", transport::tcp, port));
}

TEST(Endpoint, ErrorsNeverThrowFromTheNoexceptForm) {
  for (const char* text : {"", ":", "[", "]", "[]", "[:::]:1", "a:b:c", "unix:@",
                           "::", "tcp://[::1]:", "udp://:", "h:1:", "\xff\xfe:80"}) {
    std::error_code ec;
    endpoint e = endpoint::parse(text, ec);
    EXPECT_TRUE(ec) << "accepted '" << text << "' as " << e.to_string();
  }
}

}  // namespace
}  // namespace sockit::net
