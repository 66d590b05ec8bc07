// Test that the header is self-contained: it comes first.
#include "sockit/session/stream_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "loopback_client.hpp"
#include "sockit/net/socket.hpp"

namespace sockit::session {
namespace {

using net::as_bytes;
constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);

using test::connect_to;
using test::recv_exactly;

// Echoes each read back; "boom" throws instead, as a buggy service might.
asio::awaitable<void> echo_or_throw(stream_socket& s) {
  char buf[256];
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), token);
    if (ec) co_return;
    if (std::string_view(buf, n) == "boom") throw std::runtime_error("boom");
    auto [wec, w] = co_await asio::async_write(s, asio::buffer(buf, n), token);
    if (wec) co_return;
  }
}

net::endpoint loopback() { return net::endpoint::parse("127.0.0.1:0"); }

// A TCP client from the loopback address `from` (127.0.0.2 is loopback too), so a test can
// be two peer addresses on one machine.
net::socket connect_from(const char* from, const net::endpoint& to) {
  net::socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, from, &a.sin_addr);
  EXPECT_EQ(::bind(s.native_handle(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  a.sin_port = htons(to.port());
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  EXPECT_EQ(::connect(s.native_handle(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  test::set_timeout(s, 10);
  return s;
}

std::string v4_key(const char* text) {
  in_addr a{};
  ::inet_pton(AF_INET, text, &a);
  return std::string(reinterpret_cast<const char*>(&a), 4);
}

// Waits (bounded) until the server counts `n` live connections from `key`.
bool live_becomes(const stream_server& server, const std::string& key, std::size_t n) {
  for (int i = 0; i < 5000; ++i) {
    if (server.live_from(key) == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

bool echoes(net::socket& c, const std::string& msg) {
  std::error_code ec;
  c.send_all(as_bytes(msg), ec);
  return !ec && recv_exactly(c, msg.size()) == msg;
}

TEST(stream_server, serves_connections_on_every_loop) {
  stream_server server(2);
  server.listen(loopback());
  ASSERT_NE(server.local_endpoint().port(), 0);
  EXPECT_EQ(server.family(), AF_INET);
  std::atomic<unsigned> on_loop[2] = {0, 0};
  stream_server::hooks h;
  h.serve = [&](stream_socket& s, unsigned loop) {
    on_loop[loop]++;
    return echo_or_throw(s);
  };
  server.start(std::move(h));
  std::vector<net::socket> clients;
  for (int i = 0; i < 8; ++i) clients.push_back(connect_to(server.local_endpoint()));
  for (std::size_t i = 0; i < clients.size(); ++i) {
    std::string msg = "hello " + std::to_string(i);
    std::error_code ec;
    clients[i].send_all(as_bytes(msg), ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(recv_exactly(clients[i], msg.size()), msg);
  }
  EXPECT_EQ(on_loop[0] + on_loop[1], 8u);
  EXPECT_GT(on_loop[0], 0u);
  EXPECT_GT(on_loop[1], 0u);
  server.stop();
}

TEST(stream_server, an_exception_in_one_connection_spares_the_others) {
  stream_server server(1);
  server.listen(loopback());
  stream_server::hooks h;
  h.serve = [](stream_socket& s, unsigned) { return echo_or_throw(s); };
  server.start(std::move(h));
  net::socket good = connect_to(server.local_endpoint());
  net::socket bad = connect_to(server.local_endpoint());
  std::error_code ec;
  bad.send_all(as_bytes("boom"), ec);
  EXPECT_EQ(recv_exactly(bad, 1), "");  // closed by the server after the exception
  good.send_all(as_bytes("still here"), ec);
  EXPECT_EQ(recv_exactly(good, 10), "still here");
  net::socket later = connect_to(server.local_endpoint());
  later.send_all(as_bytes("new"), ec);
  EXPECT_EQ(recv_exactly(later, 3), "new");
  EXPECT_EQ(server.exceptions(), 1u);
  server.stop();
}

TEST(stream_server, refused_connections_are_reported_and_closed) {
  stream_server server(1);
  server.listen(loopback());
  std::atomic<int> admitted{0}, refused{0};
  stream_server::hooks h;
  h.serve = [](stream_socket& s, unsigned) { return echo_or_throw(s); };
  h.admit = [&] { return admitted.fetch_add(1) < 1; };  // the first one only
  h.refused = [&](stream_socket* s, refusal why) {
    EXPECT_EQ(why, refusal::full);
    ASSERT_NE(s, nullptr);
    ::send(s->native_handle(), "full\n", 5, MSG_NOSIGNAL | MSG_DONTWAIT);
    refused++;
  };
  server.start(std::move(h));
  net::socket first = connect_to(server.local_endpoint());
  std::error_code ec;
  first.send_all(as_bytes("x"), ec);
  EXPECT_EQ(recv_exactly(first, 1), "x");  // admitted and served before the second arrives
  net::socket second = connect_to(server.local_endpoint());
  EXPECT_EQ(recv_exactly(second, 100), "full\n");  // the goodbye, then EOF
  EXPECT_EQ(refused.load(), 1);
  server.stop();
}

TEST(stream_server, stop_closes_live_connections_runs_on_stop_and_is_idempotent) {
  char tmpl[] = "/tmp/sockit-stream-server-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::filesystem::path dir = tmpl;
  std::string path = (dir / "s.sock").string();
  std::atomic<int> stopped_loops{0};
  {
    stream_server server(2);
    server.listen(net::endpoint::parse("unix:" + path));
    EXPECT_EQ(server.family(), AF_UNIX);
    stream_server::hooks h;
    h.serve = [](stream_socket& s, unsigned) { return echo_or_throw(s); };
    h.on_stop = [&](unsigned) { stopped_loops++; };
    server.start(std::move(h));
    net::socket c = connect_to(server.local_endpoint());
    std::error_code ec;
    c.send_all(as_bytes("ping"), ec);
    EXPECT_EQ(recv_exactly(c, 4), "ping");
    std::thread other([&] { server.stop(); });  // concurrent stops both return
    server.stop();
    other.join();
    server.wait();
    EXPECT_EQ(recv_exactly(c, 1), "");  // the live connection was closed
    EXPECT_EQ(stopped_loops.load(), 2);
    struct stat st {};
    EXPECT_NE(::stat(path.c_str(), &st), 0) << "the Unix socket file is removed";
    server.stop();
  }
  std::filesystem::remove_all(dir);
}

TEST(stream_server, adopt_hands_over_the_socket) {
  stream_server server(1);
  server.listen(loopback());
  std::vector<std::unique_ptr<stream_socket>> kept;  // loop 0 only
  stream_server::hooks h;
  h.adopt = [&](stream_socket s, unsigned, address_slot) {
    ::send(s.native_handle(), "mine\n", 5, MSG_NOSIGNAL);
    kept.push_back(std::make_unique<stream_socket>(std::move(s)));
  };
  h.on_stop = [&](unsigned) {
    for (auto& s : kept) {
      std::error_code ignored;
      s->close(ignored);
    }
  };
  server.start(std::move(h));
  net::socket c = connect_to(server.local_endpoint());
  EXPECT_EQ(recv_exactly(c, 5), "mine\n");
  server.stop();
  EXPECT_EQ(recv_exactly(c, 1), "");  // closed by on_stop, not by the server
}

TEST(stream_server, per_address_cap_refuses_the_extra_until_one_closes) {
  stream_server server(2);
  server.listen(loopback());
  std::atomic<int> over{0};
  stream_server::hooks h;
  h.serve = [](stream_socket& s, unsigned) { return echo_or_throw(s); };
  h.max_per_address = 2;
  h.refused = [&](stream_socket* s, refusal why) {
    EXPECT_EQ(why, refusal::per_address);
    ASSERT_NE(s, nullptr);
    ::send(s->native_handle(), "per\n", 4, MSG_NOSIGNAL | MSG_DONTWAIT);
    over++;
  };
  server.start(std::move(h));
  const std::string local = v4_key("127.0.0.1");
  net::socket a = connect_to(server.local_endpoint());
  net::socket b = connect_to(server.local_endpoint());
  EXPECT_TRUE(echoes(a, "a"));
  EXPECT_TRUE(echoes(b, "b"));
  EXPECT_EQ(server.live_from(local), 2u);
  net::socket c = connect_to(server.local_endpoint());
  EXPECT_EQ(recv_exactly(c, 100), "per\n");  // the goodbye, then EOF
  EXPECT_EQ(over.load(), 1);
  // Another address is not affected, and those admitted are still served.
  net::socket other = connect_from("127.0.0.2", server.local_endpoint());
  EXPECT_TRUE(echoes(other, "other"));
  EXPECT_EQ(server.live_from(v4_key("127.0.0.2")), 1u);
  EXPECT_TRUE(echoes(a, "still"));
  // Closing one frees its slot.
  b.close();
  ASSERT_TRUE(live_becomes(server, local, 1));
  net::socket d = connect_to(server.local_endpoint());
  EXPECT_TRUE(echoes(d, "d"));
  EXPECT_EQ(over.load(), 1);
  server.stop();
  EXPECT_EQ(server.live_from(local), 0u);
}

TEST(stream_server, per_address_cap_counts_ipv4_mapped_peers_as_ipv4) {
  stream_server server(1);
  server.listen(net::endpoint::parse(":0"));  // every address, dual-stack where there is IPv6
  if (server.family() != AF_INET6) GTEST_SKIP() << "no dual-stack listener here";
  std::atomic<int> over{0};
  stream_server::hooks h;
  h.serve = [](stream_socket& s, unsigned) { return echo_or_throw(s); };
  h.max_per_address = 1;
  h.refused = [&](stream_socket*, refusal) { over++; };
  server.start(std::move(h));
  net::socket a = connect_from("127.0.0.1", server.local_endpoint());  // arrives as ::ffff:
  EXPECT_TRUE(echoes(a, "a"));
  EXPECT_EQ(server.live_from(v4_key("127.0.0.1")), 1u);
  net::socket b = connect_from("127.0.0.1", server.local_endpoint());
  EXPECT_TRUE(test::closed_by_peer(b));
  EXPECT_EQ(over.load(), 1);
  server.stop();
}

TEST(stream_server, adopted_connections_hold_their_slot_until_the_service_drops_it) {
  stream_server server(1);
  server.listen(loopback());
  std::vector<std::pair<std::unique_ptr<stream_socket>, address_slot>> kept;  // loop 0 only
  std::atomic<int> over{0};
  stream_server::hooks h;
  h.max_per_address = 1;
  h.adopt = [&](stream_socket s, unsigned, address_slot slot) {
    EXPECT_TRUE(slot);
    ::send(s.native_handle(), "mine\n", 5, MSG_NOSIGNAL);
    kept.emplace_back(std::make_unique<stream_socket>(std::move(s)), std::move(slot));
  };
  h.refused = [&](stream_socket*, refusal why) {
    EXPECT_EQ(why, refusal::per_address);
    over++;
  };
  h.on_stop = [&](unsigned) { kept.clear(); };
  server.start(std::move(h));
  net::socket a = connect_to(server.local_endpoint());
  EXPECT_EQ(recv_exactly(a, 5), "mine\n");
  net::socket b = connect_to(server.local_endpoint());
  EXPECT_TRUE(test::closed_by_peer(b));
  EXPECT_EQ(over.load(), 1);
  server.stop();
  EXPECT_EQ(server.live_from(v4_key("127.0.0.1")), 0u);  // on_stop dropped the slot
}

TEST(stream_server, unix_peers_are_not_capped_per_address) {
  char tmpl[] = "/tmp/sockit-stream-server-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::filesystem::path dir = tmpl;
  stream_server server(1);
  server.listen(net::endpoint::parse("unix:" + (dir / "s.sock").string()));
  stream_server::hooks h;
  h.serve = [](stream_socket& s, unsigned) { return echo_or_throw(s); };
  h.max_per_address = 1;
  server.start(std::move(h));
  std::vector<net::socket> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(connect_to(server.local_endpoint()));
  for (auto& c : clients) EXPECT_TRUE(echoes(c, "unix"));
  server.stop();
  std::filesystem::remove_all(dir);
}

TEST(stream_server, stop_before_start_and_no_listener) {
  stream_server a(1);
  a.listen(loopback());
  a.stop();
  a.wait();
  stream_server b(1);  // a pool with no listener (echo's UDP mode)
  b.start({});
  b.stop();
}

}  // namespace
}  // namespace sockit::session
