// Test that the header is self-contained: it comes first.
#include "sockit/net/multicast.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <string>

#include "sockit/net/error.hpp"
#include "sockit/net/resolver.hpp"
#include "sockit/net/unique_fd.hpp"
#include "sockit/service/relay.hpp"

namespace sockit::net {
namespace {

socket_address address_of(const std::string& text) {
  std::error_code ec;
  auto addrs = resolve(endpoint::parse(text, transport::udp), resolve_mode::connect, ec);
  EXPECT_FALSE(ec) << text;
  return addrs.empty() ? socket_address{} : addrs.front();
}

int int_option(const socket& s, int level, int name) {
  int value = -1;
  socklen_t len = sizeof value;
  EXPECT_EQ(::getsockopt(s.native_handle(), level, name, &value, &len), 0);
  return value;
}

socket udp_socket(int family) { return socket(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)); }

bool has_ipv6() {
  socket s = udp_socket(AF_INET6);
  if (!s.is_open()) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  return ::bind(s.native_handle(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

void set_receive_timeout(socket& s) {
  timeval tv{10, 0};  // a lost datagram fails the test instead of hanging it
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

TEST(Multicast, InterfaceIndexOfLoopbackAndOfNoSuchName) {
  std::error_code ec;
  EXPECT_EQ(interface_index("lo", ec), ::if_nametoindex("lo"));
  EXPECT_FALSE(ec);
  std::string why;
  EXPECT_EQ(interface_index("nosuch-if0", ec, &why), 0u);
  EXPECT_EQ(ec, std::errc::no_such_device);
  EXPECT_NE(why.find("'nosuch-if0'"), std::string::npos) << why;
  EXPECT_EQ(interface_index(std::string(100, 'x'), ec), 0u);  // longer than IFNAMSIZ
  EXPECT_EQ(ec, std::errc::no_such_device);
  EXPECT_EQ(interface_index("", ec), 0u);
  EXPECT_TRUE(ec);
}

TEST(Multicast, WhichAddressesAreGroups) {
  EXPECT_TRUE(is_multicast(address_of("224.0.0.1:9")));
  EXPECT_TRUE(is_multicast(address_of("239.255.255.255:9")));
  EXPECT_FALSE(is_multicast(address_of("223.255.255.255:9")));
  EXPECT_FALSE(is_multicast(address_of("240.0.0.0:9")));
  EXPECT_FALSE(is_multicast(address_of("255.255.255.255:9")));
  EXPECT_FALSE(is_multicast(address_of("127.0.0.1:9")));
  EXPECT_TRUE(is_multicast(address_of("[ff02::1]:9")));
  EXPECT_TRUE(is_multicast(address_of("[ff15::8:1]:9")));
  EXPECT_FALSE(is_multicast(address_of("[fe80::1]:9")));
  EXPECT_FALSE(is_multicast(address_of("[::1]:9")));
  EXPECT_FALSE(is_multicast(socket_address::from_unix(endpoint::parse("unix:/tmp/x"))));
}

TEST(Multicast, BroadcastAndHopLimitAreSet) {
  socket s = udp_socket(AF_INET);
  std::error_code ec;
  EXPECT_EQ(int_option(s, SOL_SOCKET, SO_BROADCAST), 0);
  set_broadcast(s, true, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(int_option(s, SOL_SOCKET, SO_BROADCAST), 1);
  EXPECT_EQ(int_option(s, IPPROTO_IP, IP_MULTICAST_TTL), 1);  // the kernel's default
  set_multicast_hops(s, 7, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(int_option(s, IPPROTO_IP, IP_MULTICAST_TTL), 7);
  set_multicast_hops(s, 256, ec);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  set_multicast_hops(s, -1, ec);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  EXPECT_EQ(int_option(s, IPPROTO_IP, IP_MULTICAST_TTL), 7);
  if (!has_ipv6()) GTEST_SKIP() << "no IPv6";
  socket s6 = udp_socket(AF_INET6);
  set_multicast_hops(s6, 0, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(int_option(s6, IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 0);
}

TEST(Multicast, OutgoingInterfaceIsSet) {
  const unsigned lo = ::if_nametoindex("lo");
  std::error_code ec;
  socket s = udp_socket(AF_INET);
  set_unicast_interface(s, lo, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(static_cast<unsigned>(int_option(s, IPPROTO_IP, IP_UNICAST_IF)), htonl(lo));
  set_multicast_interface(s, lo, ec);
  EXPECT_FALSE(ec) << ec.message();
  set_multicast_interface(s, 0x7fffffff, ec);  // no such interface
  EXPECT_TRUE(ec);
  if (!has_ipv6()) GTEST_SKIP() << "no IPv6";
  socket s6 = udp_socket(AF_INET6);
  set_multicast_interface(s6, lo, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(static_cast<unsigned>(int_option(s6, IPPROTO_IPV6, IPV6_MULTICAST_IF)), lo);
  set_unicast_interface(s6, lo, ec);
  EXPECT_FALSE(ec) << ec.message();
}

TEST(Multicast, ListenGroupRefusesWhatIsNotAGroup) {
  std::error_code ec;
  std::string why;
  socket s = listen_group(endpoint::parse("127.0.0.1:0"), "", ec, &why);
  EXPECT_FALSE(s.is_open());
  EXPECT_EQ(ec, errc::invalid_address);
  EXPECT_NE(why.find("not a multicast group"), std::string::npos) << why;
  s = listen_group(endpoint::parse(":0"), "", ec, &why);
  EXPECT_EQ(ec, errc::invalid_address);
  EXPECT_NE(why.find("GROUP:PORT"), std::string::npos) << why;
  s = listen_group(endpoint::parse("unix:/tmp/x"), "", ec, &why);
  EXPECT_EQ(ec, errc::invalid_address);
  s = listen_group(endpoint::parse("239.255.77.1:0"), "nosuch-if0", ec, &why);
  EXPECT_EQ(ec, std::errc::no_such_device);
  EXPECT_NE(why.find("'nosuch-if0'"), std::string::npos) << why;
  if (!has_ipv6()) GTEST_SKIP() << "no IPv6";
  s = listen_group(endpoint::parse("[ff12::77:1]:0"), "", ec, &why);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  EXPECT_NE(why.find("interface"), std::string::npos) << why;
}

TEST(Multicast, SenderRefusesBroadcastOverIpv6AndSetsWhatItIsTold) {
  std::error_code ec;
  std::string why;
  socket_address to;
  datagram_sender_options o;
  o.broadcast = true;
  socket s = open_datagram_sender(endpoint::parse("127.255.255.255:9"), o, to, ec, &why);
  ASSERT_TRUE(s.is_open()) << why;
  EXPECT_EQ(int_option(s, SOL_SOCKET, SO_BROADCAST), 1);
  EXPECT_EQ(to.host(), "127.255.255.255");
  EXPECT_EQ(to.port(), 9);
  o.iface = "nosuch-if0";
  s = open_datagram_sender(endpoint::parse("127.255.255.255:9"), o, to, ec, &why);
  EXPECT_EQ(ec, std::errc::no_such_device);
  s = open_datagram_sender(endpoint::parse("unix:/tmp/x"), o, to, ec, &why);
  EXPECT_EQ(ec, errc::invalid_endpoint);
  datagram_sender_options g;
  g.multicast_hops = 3;
  g.iface = "lo";
  s = open_datagram_sender(endpoint::parse("239.255.77.1:9"), g, to, ec, &why);
  ASSERT_TRUE(s.is_open()) << why;
  EXPECT_EQ(int_option(s, IPPROTO_IP, IP_MULTICAST_TTL), 3);
  EXPECT_EQ(int_option(s, SOL_SOCKET, SO_BROADCAST), 0);
  if (!has_ipv6()) GTEST_SKIP() << "no IPv6";
  s = open_datagram_sender(endpoint::parse("[::1]:9"), o, to, ec, &why);
  EXPECT_FALSE(s.is_open());
  EXPECT_EQ(ec, errc::family_mismatch);
  EXPECT_NE(why.find("IPv6 has no broadcast"), std::string::npos) << why;
}

// On loopback only: a group joined on lo hears a datagram sent to it by lo, and a listener of
// another group on the same port does not.
TEST(Multicast, AGroupOnLoopbackHearsItsOwnDatagramsOnly) {
  std::error_code ec;
  std::string why;
  socket a = listen_group(endpoint::parse("239.255.77.1:0"), "lo", ec, &why);
  ASSERT_TRUE(a.is_open()) << why;
  const std::uint16_t port = a.local_address().port();
  EXPECT_EQ(a.local_address().host(), "239.255.77.1");
  socket b = listen_group(endpoint::parse("239.255.77.2:" + std::to_string(port)), "lo", ec, &why);
  ASSERT_TRUE(b.is_open()) << why;  // SO_REUSEADDR: a second group on the same port
  set_receive_timeout(a);
  set_receive_timeout(b);
  datagram_sender_options o;
  o.iface = "lo";
  socket_address to_a, to_b;
  socket sa = open_datagram_sender(endpoint::parse("239.255.77.1:" + std::to_string(port)), o, to_a,
                                   ec, &why);
  ASSERT_TRUE(sa.is_open()) << why;
  socket sb = open_datagram_sender(endpoint::parse("239.255.77.2:" + std::to_string(port)), o, to_b,
                                   ec, &why);
  ASSERT_TRUE(sb.is_open()) << why;
  sa.send_to(as_bytes("to a"), to_a, ec);
  ASSERT_FALSE(ec) << ec.message();
  sb.send_to(as_bytes("to b"), to_b, ec);
  ASSERT_FALSE(ec) << ec.message();
  std::string buf(100, '\0');
  socket_address from;
  std::size_t n = b.recv_from(std::as_writable_bytes(std::span(buf)), from, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(buf.substr(0, n), "to b");  // the first thing b hears is its own group's
  n = a.recv_from(std::as_writable_bytes(std::span(buf)), from, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(buf.substr(0, n), "to a");
  EXPECT_EQ(from.port(), sa.local_address().port());
}

std::string read_available(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

TEST(WriteDatagram, EscapesControlBytesForATerminalAndKeepsNewlines) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  unique_fd r(fds[0]), w(fds[1]);
  const std::string hostile = "hi\x1b[2J\nthere\r\x07\n\xff";
  EXPECT_FALSE(service::write_datagram(w.get(), as_bytes(hostile), true));
  EXPECT_FALSE(service::write_datagram(w.get(), as_bytes(hostile), false));
  w.reset();
  EXPECT_EQ(read_available(r.get()), "hi\\x1b[2J\nthere\\x0d\\x07\n\\xff" + hostile);
}

// The relay's any-sender mode: the reply comes from another socket than the one datagrams go
// to (as a broadcast's responder answers from its own address), and is printed anyway.
TEST(RelayToADestination, PrintsRepliesFromAnySender) {
  std::error_code ec;
  socket target = socket::bind_datagram(endpoint::parse("127.0.0.1:0"), ec);
  ASSERT_FALSE(ec);
  socket responder = socket::bind_datagram(endpoint::parse("127.0.0.1:0"), ec);
  ASSERT_FALSE(ec);
  set_receive_timeout(target);
  int in[2], out[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  unique_fd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]);
  ASSERT_EQ(::write(in_w.get(), "ping", 4), 4);  // input stays open until the reply is seen
  socket client = udp_socket(AF_INET);
  service::relay_options o;
  o.datagram = true;
  o.destination = target.local_address();
  o.datagram_linger = std::chrono::milliseconds(0);
  socket_address reported;
  o.on_reply = [&](const socket_address& from, std::size_t) { reported = from; };
  auto fut = std::async(std::launch::async, [&] {
    auto r = service::relay(in_r.get(), out_w.get(), client, o);
    out_w.reset();
    return r;
  });
  std::string buf(100, '\0');
  socket_address from;
  std::size_t n = target.recv_from(std::as_writable_bytes(std::span(buf)), from, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(buf.substr(0, n), "ping");
  responder.send_to(as_bytes("pong"), from, ec);
  ASSERT_FALSE(ec);
  char got[4];
  ASSERT_EQ(::read(out_r.get(), got, 4), 4);  // printed before the linger ends
  EXPECT_EQ(std::string(got, 4), "pong");
  in_w.reset();  // input EOF, and no linger: the relay ends
  auto r = fut.get();
  EXPECT_EQ(reported.port(), responder.local_address().port());
  EXPECT_EQ(r.datagrams_sent, 1u);
  EXPECT_EQ(r.datagrams_received, 1u);
  EXPECT_FALSE(r.error) << r.error.message();
}

}  // namespace
}  // namespace sockit::net
