// Test that the header is self-contained: it comes first.
#include "sockit/net/socket.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

#include "sockit/net/error.hpp"

namespace sockit::net {
namespace {

std::string recv_string(socket& s, std::size_t max = 65536) {
  std::string buf(max, '\0');
  std::error_code ec;
  std::size_t n = s.recv(std::as_writable_bytes(std::span(buf)), ec);
  EXPECT_FALSE(ec) << ec.message();
  buf.resize(n);
  return buf;
}

std::string recv_exactly(socket& s, std::size_t n) {
  std::string out;
  while (out.size() < n) {
    std::string part = recv_string(s, n - out.size());
    if (part.empty()) break;
    out += part;
  }
  return out;
}

bool has_ipv6_loopback() {
  socket s(::socket(AF_INET6, SOCK_STREAM, 0));
  if (!s.is_open()) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  return ::bind(s.native_handle(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

struct connected_pair {
  socket listener, client, server;
};

connected_pair tcp_pair(const char* where = "127.0.0.1:0") {
  connected_pair p;
  std::error_code ec;
  p.listener = socket::listen(endpoint::parse(where), ec);
  EXPECT_FALSE(ec) << ec.message();
  p.client = socket::connect(p.listener.local_address().to_endpoint(), ec);
  EXPECT_FALSE(ec) << ec.message();
  p.server = p.listener.accept(nullptr, ec);
  EXPECT_FALSE(ec) << ec.message();
  return p;
}

TEST(Socket, DefaultIsClosedAndMoveTransfersOwnership) {
  socket none;
  EXPECT_FALSE(none.is_open());
  EXPECT_EQ(none.native_handle(), -1);
  socket a(::socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_TRUE(a.is_open());
  int fd = a.native_handle();
  socket b(std::move(a));
  EXPECT_FALSE(a.is_open());
  EXPECT_EQ(b.native_handle(), fd);
  socket c;
  c = std::move(b);
  EXPECT_EQ(c.native_handle(), fd);
  EXPECT_FALSE(b.is_open());
  int raw = c.release();
  EXPECT_EQ(raw, fd);
  EXPECT_FALSE(c.is_open());
  ::close(raw);
}

TEST(Socket, CloseReleasesTheDescriptor) {
  int fd;
  {
    socket s(::socket(AF_INET, SOCK_STREAM, 0));
    fd = s.native_handle();
    ASSERT_GE(fd, 0);
  }
  errno = 0;
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);  // closed by the destructor
  EXPECT_EQ(errno, EBADF);
}

TEST(Socket, ListenBindsPortZeroWithReuseAddr) {
  std::error_code ec;
  socket l = socket::listen(endpoint::parse("127.0.0.1:0"), ec);
  ASSERT_FALSE(ec) << ec.message();
  auto local = l.local_address();
  EXPECT_EQ(local.host(), "127.0.0.1");
  EXPECT_NE(local.port(), 0);
  int v = 0;
  socklen_t len = sizeof v;
  ASSERT_EQ(::getsockopt(l.native_handle(), SOL_SOCKET, SO_REUSEADDR, &v, &len), 0);
  EXPECT_NE(v, 0);
  int cloexec = ::fcntl(l.native_handle(), F_GETFD);
  EXPECT_TRUE(cloexec & FD_CLOEXEC);
}

TEST(Socket, TcpRoundTripAndPeerCloseIsZeroBytes) {
  auto p = tcp_pair();
  std::error_code ec;
  p.client.send_all(as_bytes("hello"), ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(recv_exactly(p.server, 5), "hello");
  EXPECT_EQ(p.server.peer_address().port(), p.client.local_address().port());
  p.client.close();
  // The seeds' `if not data: break`: recv returns 0 with no error.
  std::string buf(16, '\0');
  std::size_t n = p.server.recv(std::as_writable_bytes(std::span(buf)), ec);
  EXPECT_EQ(n, 0u);
  EXPECT_FALSE(ec);
}

TEST(Socket, AcceptReportsThePeer) {
  std::error_code ec;
  socket l = socket::listen(endpoint::parse("127.0.0.1:0"), ec);
  socket c = socket::connect(l.local_address().to_endpoint(), ec);
  socket_address peer;
  socket s = l.accept(&peer, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(peer.host(), "127.0.0.1");
  EXPECT_EQ(peer.port(), c.local_address().port());
}

TEST(Socket, SendToAClosedPeerIsAnErrorNotSigpipe) {
  // SIGPIPE keeps its default action here: if send() raised it, the test process would die.
  auto old = std::signal(SIGPIPE, SIG_DFL);
  auto p = tcp_pair();
  p.server.close();
  std::error_code ec;
  std::string chunk(65536, 'x');
  for (int i = 0; i < 100 && !ec; ++i) p.client.send_all(as_bytes(chunk), ec);
  EXPECT_TRUE(ec == std::errc::broken_pipe || ec == std::errc::connection_reset) << ec.message();
  std::signal(SIGPIPE, old);
}

TEST(Socket, ShutdownWriteIsAHalfClose) {
  auto p = tcp_pair();
  std::error_code ec;
  p.client.send_all(as_bytes("last words"), ec);
  p.client.shutdown_write(ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(recv_exactly(p.server, 10), "last words");
  EXPECT_EQ(recv_string(p.server), "");  // EOF
  // The other direction still works.
  p.server.send_all(as_bytes("reply"), ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(recv_exactly(p.client, 5), "reply");
}

TEST(Socket, ConnectToAClosedPortFailsWithAReason) {
  std::error_code ec;
  endpoint closed;
  {
    socket l = socket::listen(endpoint::parse("127.0.0.1:0"), ec);
    closed = l.local_address().to_endpoint();
  }  // closed: nobody listens there now
  std::string why;
  socket c = socket::connect(closed, ec, &why);
  EXPECT_FALSE(c.is_open());
  EXPECT_EQ(ec, std::errc::connection_refused);
  EXPECT_NE(why.find(closed.to_string()), std::string::npos) << why;
}

TEST(Socket, ListenOnABusyPortFails) {
  std::error_code ec;
  socket a = socket::listen(endpoint::parse("127.0.0.1:0"), ec);
  std::string why;
  socket b = socket::listen(a.local_address().to_endpoint(), ec, &why);
  EXPECT_FALSE(b.is_open());
  EXPECT_EQ(ec, std::errc::address_in_use);
  EXPECT_NE(why.find("cannot bind"), std::string::npos) << why;
}

TEST(Socket, UnresolvableEndpointFails) {
  std::error_code ec;
  std::string why;
  // An empty label: glibc refuses it locally, no DNS query leaves the machine.
  socket s = socket::connect(endpoint::inet("a..b", 1), ec, &why);
  EXPECT_FALSE(s.is_open());
  EXPECT_EQ(ec, make_error_code(errc::resolve_failed));
  EXPECT_NE(why.find("a..b"), std::string::npos) << why;
}

TEST(Socket, Ipv6Loopback) {
  if (!has_ipv6_loopback()) GTEST_SKIP() << "no ::1 on this machine";
  auto p = tcp_pair("[::1]:0");
  EXPECT_EQ(p.listener.local_address().family(), AF_INET6);
  std::error_code ec;
  p.client.send_all(as_bytes("v6"), ec);
  EXPECT_EQ(recv_exactly(p.server, 2), "v6");
}

TEST(Socket, EmptyHostListensDualStack) {
  std::error_code ec;
  socket l = socket::listen(endpoint::parse(":0"), ec);
  ASSERT_FALSE(ec) << ec.message();
  // Reachable over IPv4 loopback whatever family it chose.
  socket c = socket::connect(endpoint::inet("127.0.0.1", l.local_address().port()), ec);
  EXPECT_FALSE(ec) << ec.message();
  socket s = l.accept(nullptr, ec);
  EXPECT_FALSE(ec);
}

TEST(Socket, UnixPathAndAbstract) {
  char dir[] = "/tmp/sockit-socket-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/s.sock";
  for (auto e : {endpoint::unix_socket(path),
                 endpoint::unix_socket("sockit-test-" + std::to_string(::getpid()), true)}) {
    std::error_code ec;
    socket l = socket::listen(e, ec);
    ASSERT_FALSE(ec) << e.to_string() << ": " << ec.message();
    EXPECT_EQ(l.local_address().to_endpoint(), e);
    socket c = socket::connect(e, ec);
    ASSERT_FALSE(ec) << ec.message();
    socket s = l.accept(nullptr, ec);
    ASSERT_FALSE(ec);
    c.send_all(as_bytes("unix"), ec);
    EXPECT_EQ(recv_exactly(s, 4), "unix");
  }
  ::unlink(path.c_str());
  ::rmdir(dir);
}

TEST(Socket, UdpSendToAndRecvFrom) {
  std::error_code ec;
  socket server = socket::bind_datagram(endpoint::parse("127.0.0.1:0"), ec);
  ASSERT_FALSE(ec);
  auto server_ep = server.local_address().to_endpoint(transport::udp);
  socket client = socket::connect(server_ep, ec);  // a connected UDP socket
  ASSERT_FALSE(ec) << ec.message();
  client.send(as_bytes("ping"), ec);
  std::string buf(100, '\0');
  socket_address from;
  std::size_t n = server.recv_from(std::as_writable_bytes(std::span(buf)), from, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(buf.substr(0, n), "ping");
  EXPECT_EQ(from.port(), client.local_address().port());
  // An empty datagram is a datagram, not EOF.
  server.send_to(as_bytes(""), from, ec);
  ASSERT_FALSE(ec);
  n = client.recv(std::as_writable_bytes(std::span(buf)), ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(n, 0u);
}

TEST(Socket, UdpConnectToFiltersOtherSenders) {
  std::error_code ec;
  socket a = socket::bind_datagram(endpoint::parse("127.0.0.1:0"), ec);
  socket b = socket::bind_datagram(endpoint::parse("127.0.0.1:0"), ec);
  socket other = socket::bind_datagram(endpoint::parse("127.0.0.1:0"), ec);
  a.connect_to(b.local_address(), ec);
  ASSERT_FALSE(ec);
  other.send_to(as_bytes("noise"), a.local_address(), ec);
  b.send_to(as_bytes("signal"), a.local_address(), ec);
  std::string buf(100, '\0');
  std::size_t n = a.recv(std::as_writable_bytes(std::span(buf)), ec);
  EXPECT_EQ(buf.substr(0, n), "signal");
}

TEST(Socket, NonBlockingRecvWouldBlock) {
  auto p = tcp_pair();
  std::error_code ec;
  p.server.set_non_blocking(true, ec);
  ASSERT_FALSE(ec);
  std::string buf(10, '\0');
  p.server.recv(std::as_writable_bytes(std::span(buf)), ec);
  EXPECT_TRUE(ec == std::errc::resource_unavailable_try_again ||
              ec == std::errc::operation_would_block)
      << ec.message();
  p.server.set_non_blocking(false, ec);
  EXPECT_EQ(::fcntl(p.server.native_handle(), F_GETFL) & O_NONBLOCK, 0);
}

TEST(Socket, AsBytesViewsTheString) {
  std::string_view s = "abc";
  auto b = as_bytes(s);
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(static_cast<const void*>(b.data()), static_cast<const void*>(s.data()));
}

}  // namespace
}  // namespace sockit::net
