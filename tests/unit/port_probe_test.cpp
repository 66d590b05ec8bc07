// Test that the header is self-contained: it comes first.
#include "sockit/net/port_probe.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockit/net/error.hpp"
#include "sockit/net/unique_fd.hpp"

namespace sockit::net {
namespace {

TEST(PortList, Forms) {
  std::error_code ec;
  EXPECT_EQ(parse_port_list("22,80,8000-8002,80", "tcp", ec),
            (std::vector<std::uint16_t>{22, 80, 8000, 8001, 8002}));
  EXPECT_EQ(parse_port_list("http,ssh", "tcp", ec), (std::vector<std::uint16_t>{80, 22}));
  EXPECT_EQ(parse_port_list("1-65535", "tcp", ec).size(), 65535u);
  for (const char* bad :
       {"", "0", "65536", "10-5", "1,,2", "1-", "-1", "x-y", "1-70000", "no-such-service", "1;2"}) {
    std::string why;
    parse_port_list(bad, "tcp", ec, &why);
    EXPECT_TRUE(ec) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

// A loopback TCP socket: listening (open) or only bound (connect is refused: closed).
struct bound {
  unique_fd fd;
  std::uint16_t port = 0;
  explicit bound(bool listening) : fd(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (listening) ::listen(fd.get(), 16);
    socklen_t len = sizeof a;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
};

TEST(Probe, OpenAndClosedOnLoopback) {
  bound open(true), closed(false);
  std::vector<std::uint16_t> ports{open.port, closed.port};
  probe_options o;
  o.concurrency = 1;  // bounded: one at a time still finishes
  auto r = probe_ports(ip_address::parse("127.0.0.1"), ports, o);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].port, open.port);
  EXPECT_EQ(r[0].state, port_state::open);
  EXPECT_EQ(r[1].state, port_state::closed);
  EXPECT_STREQ(to_string(port_state::open_filtered), "open|filtered");
}

}  // namespace
}  // namespace sockit::net
