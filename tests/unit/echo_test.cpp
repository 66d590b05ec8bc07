// Test that the header is self-contained: it comes first.
#include "sockit/service/echo.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "loopback_client.hpp"
#include "sockit/net/socket.hpp"

namespace sockit::service {
namespace {

using net::as_bytes;

std::string python_upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

using test::closed_by_peer;
using test::connect_to;
using test::recv_exactly;

// Collects events from the I/O threads.
struct event_log {
  std::mutex mu;
  std::vector<echo_event> events;
  void operator()(const echo_event& e) {
    std::lock_guard lock(mu);
    events.push_back(e);
  }
  std::size_t count(echo_event::type t) {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (auto& e : events) n += e.what == t;
    return n;
  }
};

echo_options tcp_options() {
  echo_options o;
  o.endpoint = net::endpoint::parse("127.0.0.1:0");
  o.threads = 2;
  return o;
}

TEST(EchoServer, BindsAtOnceAndReportsThePort) {
  echo_server server(tcp_options());
  auto e = server.local_endpoint();
  EXPECT_EQ(e.host(), "127.0.0.1");
  EXPECT_NE(e.port(), 0);
  EXPECT_EQ(e.proto(), net::transport::tcp);
}

TEST(EchoServer, BindFailureThrowsAClearError) {
  echo_server first(tcp_options());
  echo_options o = tcp_options();
  o.endpoint = first.local_endpoint();
  try {
    echo_server second(o);
    FAIL() << "bound a busy port";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use);
    EXPECT_NE(std::string(e.what()).find(first.local_endpoint().to_string()), std::string::npos)
        << e.what();
  }
}

TEST(EchoServer, TcpUpperEchoAndStats) {
  echo_options o = tcp_options();
  o.upper = true;
  echo_server server(o);
  event_log log;
  server.on_event(std::ref(log));
  server.start();
  std::string msg = "hello, \xe4\xb8\x96\xe7\x95\x8c abc-XYZ 123";
  for (int i = 0; i < 256; ++i) msg.push_back(static_cast<char>(i));
  {
    auto c = connect_to(server.local_endpoint());
    std::error_code ec;
    c.send_all(as_bytes(msg), ec);
    EXPECT_EQ(recv_exactly(c, msg.size()), python_upper(msg));
    c.shutdown_write(ec);
    EXPECT_TRUE(closed_by_peer(c));  // the server closes when we do
  }
  server.stop();
  auto s = server.stats();
  EXPECT_EQ(s.accepted, 1u);
  EXPECT_EQ(s.active, 0u);
  EXPECT_EQ(s.bytes, msg.size());
  EXPECT_EQ(log.count(echo_event::type::accepted), 1u);
  EXPECT_EQ(log.count(echo_event::type::closed), 1u);
  std::lock_guard lock(log.mu);
  EXPECT_EQ(log.events.back().bytes, msg.size());
  EXPECT_EQ(log.events.front().peer.rfind("tcp://127.0.0.1:", 0), 0u) << log.events.front().peer;
}

TEST(EchoServer, ManyClientsOnSeveralLoopsEachGetTheirOwnBytes) {
  echo_options o = tcp_options();
  o.max_conns_per_ip = 0;  // 50 clients, all from 127.0.0.1
  echo_server server(o);
  server.start();
  std::vector<net::socket> clients;
  for (int i = 0; i < 50; ++i) clients.push_back(connect_to(server.local_endpoint()));
  std::error_code ec;
  for (std::size_t i = 0; i < clients.size(); ++i)
    clients[i].send_all(as_bytes("client " + std::to_string(i) + ";"), ec);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    std::string expect = "client " + std::to_string(i) + ";";
    EXPECT_EQ(recv_exactly(clients[i], expect.size()), expect);
  }
  EXPECT_EQ(server.stats().active, 50u);
  server.stop();
  EXPECT_EQ(server.stats().accepted, 50u);
}

TEST(EchoServer, LargeTransferWithSmallBuffer) {
  echo_options o = tcp_options();
  o.buffer_size = 1000;
  echo_server server(o);
  server.start();
  auto c = connect_to(server.local_endpoint());
  std::string data(2 << 20, '\0');
  std::mt19937 rng(1);
  for (char& ch : data) ch = static_cast<char>(rng());
  // Send and receive at once so neither side's buffers fill up.
  std::thread sender([&] {
    std::error_code ec;
    c.send_all(as_bytes(data), ec);
  });
  std::string back = recv_exactly(c, data.size());
  sender.join();
  EXPECT_TRUE(back == data);
  server.stop();
}

TEST(EchoServer, ResetByOneClientLeavesOthersServed) {
  echo_server server(tcp_options());
  event_log log;
  server.on_event(std::ref(log));
  server.start();
  auto good = connect_to(server.local_endpoint());
  {
    auto bad = connect_to(server.local_endpoint());
    std::error_code ec;
    bad.send_all(as_bytes("half a mess"), ec);
    linger l{1, 0};  // close with RST
    ::setsockopt(bad.native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  std::error_code ec;
  good.send_all(as_bytes("still here"), ec);
  EXPECT_EQ(recv_exactly(good, 10), "still here");
  // The reset connection ends on its own (bounded wait: it may still be in the backlog).
  for (int i = 0; i < 1000 && log.count(echo_event::type::closed) == 0; ++i) ::poll(nullptr, 0, 10);
  EXPECT_EQ(log.count(echo_event::type::closed), 1u);
  server.stop();
  EXPECT_EQ(server.stats().accepted, 2u);
  EXPECT_EQ(server.stats().active, 0u);
  EXPECT_EQ(log.count(echo_event::type::closed), 2u);
}

TEST(EchoServer, MaxConnsClosesTheExtraAndCountsIt) {
  echo_options o = tcp_options();
  o.max_conns = 2;
  echo_server server(o);
  event_log log;
  server.on_event(std::ref(log));
  server.start();
  auto a = connect_to(server.local_endpoint());
  auto b = connect_to(server.local_endpoint());
  std::error_code ec;
  // Make sure both are accepted before the third arrives.
  a.send_all(as_bytes("a"), ec);
  b.send_all(as_bytes("b"), ec);
  EXPECT_EQ(recv_exactly(a, 1), "a");
  EXPECT_EQ(recv_exactly(b, 1), "b");
  auto c = connect_to(server.local_endpoint());
  EXPECT_TRUE(closed_by_peer(c));
  EXPECT_EQ(server.stats().rejected, 1u);
  EXPECT_EQ(log.count(echo_event::type::rejected), 1u);
  a.send_all(as_bytes("still"), ec);  // those under the cap are still served
  EXPECT_EQ(recv_exactly(a, 5), "still");
  a.close();
  // A slot freed: a new client is served again (the server may need a moment to notice).
  bool served = false;
  for (int i = 0; i < 200 && !served; ++i) {
    auto d = connect_to(server.local_endpoint());
    d.send_all(as_bytes("d"), ec);
    served = recv_exactly(d, 1) == "d";
  }
  EXPECT_TRUE(served);
  server.stop();
}

TEST(EchoServer, IdleTimeoutClosesOnlyTheIdle) {
  echo_options o = tcp_options();
  o.idle_timeout = std::chrono::milliseconds(500);
  echo_server server(o);
  event_log log;
  server.on_event(std::ref(log));
  server.start();
  auto idle = connect_to(server.local_endpoint());
  auto busy = connect_to(server.local_endpoint());
  std::error_code ec;
  auto t0 = std::chrono::steady_clock::now();
  // Keep `busy` talking every 50 ms for about three timeouts.
  for (int i = 0; i < 30; ++i) {
    busy.send_all(as_bytes("k"), ec);
    ASSERT_EQ(recv_exactly(busy, 1), "k") << "active client was closed";
    ::poll(nullptr, 0, 50);
  }
  EXPECT_TRUE(closed_by_peer(idle));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  busy.send_all(as_bytes("z"), ec);
  EXPECT_EQ(recv_exactly(busy, 1), "z");
  server.stop();
  EXPECT_EQ(server.stats().idle_closed, 1u);
  EXPECT_EQ(log.count(echo_event::type::idle_timeout), 1u);
}

TEST(EchoServer, StopClosesConnectedClients) {
  echo_server server(tcp_options());
  server.start();
  auto c = connect_to(server.local_endpoint());
  std::error_code ec;
  c.send_all(as_bytes("x"), ec);
  EXPECT_EQ(recv_exactly(c, 1), "x");
  server.stop();
  EXPECT_TRUE(closed_by_peer(c));
  server.stop();  // twice is fine
  server.wait();  // returns at once after stop
  // Nobody listens any more.
  net::socket again = net::socket::connect(server.local_endpoint(), ec);
  EXPECT_EQ(ec, std::errc::connection_refused);
}

TEST(EchoServer, StopRightAfterConnectsReportsEveryAcceptedConnection) {
  // Connections accepted while stop() runs must still be run and closed: every accepted
  // one gets a closed event and nothing stays active.
  for (int round = 0; round < 20; ++round) {
    echo_options o = tcp_options();
    o.threads = 3;
    echo_server server(o);
    event_log log;
    server.on_event(std::ref(log));
    server.start();
    std::vector<net::socket> clients;
    for (int i = 0; i < 8; ++i) clients.push_back(connect_to(server.local_endpoint()));
    server.stop();
    auto s = server.stats();
    EXPECT_EQ(s.active, 0u) << "round " << round;
    EXPECT_EQ(log.count(echo_event::type::closed), s.accepted) << "round " << round;
    EXPECT_EQ(log.count(echo_event::type::accepted), s.accepted) << "round " << round;
  }
}

TEST(EchoServer, StopWithoutStart) {
  echo_server server(tcp_options());
  server.stop();
  SUCCEED();
}

TEST(EchoServer, UnixStreamAndStaleFileRemovedOnStop) {
  char dir[] = "/tmp/sockit-echo-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/echo.sock";
  echo_options o;
  o.endpoint = net::endpoint::unix_socket(path);
  o.upper = true;
  o.threads = 1;
  {
    echo_server server(o);
    EXPECT_EQ(server.local_endpoint().to_string(), "unix:" + path);
    server.start();
    auto c = connect_to(server.local_endpoint());
    std::error_code ec;
    c.send_all(as_bytes("unix socket"), ec);
    EXPECT_EQ(recv_exactly(c, 11), "UNIX SOCKET");
    server.stop();
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "socket file left behind";
  ::rmdir(dir);
}

TEST(EchoServer, UdpRepliesWithTheSameDatagram) {
  echo_options o = tcp_options();
  o.udp = true;
  o.upper = true;
  echo_server server(o);
  auto ep = server.local_endpoint();
  EXPECT_EQ(ep.proto(), net::transport::udp);
  server.start();
  auto c = connect_to(ep);
  std::vector<std::string> sent{"", "a", "hello \xc3\xa9", std::string(65507, 'q')};
  std::error_code ec;
  std::string buf(70000, '\0');
  for (const auto& d : sent) {
    c.send(as_bytes(d), ec);
    ASSERT_FALSE(ec) << d.size() << ": " << ec.message();
    std::size_t n = c.recv(std::as_writable_bytes(std::span(buf)), ec);
    ASSERT_FALSE(ec) << d.size() << ": " << ec.message();
    EXPECT_EQ(n, d.size());
    EXPECT_TRUE(buf.substr(0, n) == python_upper(d)) << d.size();
  }
  server.stop();
  EXPECT_EQ(server.stats().datagrams, sent.size());
}

TEST(EchoServer, UdpOnAUnixEndpointIsRefused) {
  echo_options o;
  o.endpoint = net::endpoint::unix_socket("/tmp/nope.sock");
  o.udp = true;
  EXPECT_THROW(echo_server server(o), std::system_error);
}

TEST(EchoServer, UdpLoopPortsAreThePrivilegedPorts) {
  for (std::uint16_t p : {0, 1, 7, 9, 13, 17, 19, 37, 53, 123, 1023})
    EXPECT_TRUE(udp_loop_port(p)) << p;
  for (std::uint16_t p : {1024, 1025, 32768, 65535}) EXPECT_FALSE(udp_loop_port(p)) << p;
}

TEST(EchoServer, UdpDefaultsAreASmallBurstAndAByteRate) {
  echo_options o;
  EXPECT_EQ(o.udp_rate, 1000);
  EXPECT_EQ(o.udp_burst, 16);
  EXPECT_EQ(o.udp_byte_rate, 1024 * 1024);
  EXPECT_GE(o.udp_byte_burst, 65507);  // the largest datagram can be answered
}

TEST(EchoServer, UdpBurstBelowOneIsRefused) {
  echo_options o;
  o.endpoint = net::endpoint::parse("udp://127.0.0.1:0");
  o.udp = true;
  o.udp_burst = 0;
  EXPECT_THROW(echo_server server(o), std::invalid_argument);
  o.udp_burst = 16;
  o.udp_byte_burst = 0;
  EXPECT_THROW(echo_server server(o), std::invalid_argument);
  o.udp_byte_rate = 0;  // bytes not limited: their burst does not matter
  EXPECT_NO_THROW(echo_server server(o));
}

TEST(EchoServer, NegativeUdpRateIsRefused) {
  echo_options o;
  o.endpoint = net::endpoint::parse("udp://127.0.0.1:0");
  o.udp = true;
  o.udp_rate = -1;
  EXPECT_THROW(echo_server server(o), std::invalid_argument);
}

}  // namespace
}  // namespace sockit::service
