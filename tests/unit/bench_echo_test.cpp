// Test that the header is self-contained: it comes first.
#include "sockit/service/bench_echo.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "sockit/net/socket.hpp"
#include "sockit/service/echo.hpp"

namespace sockit::service {
namespace {

using namespace std::chrono_literals;

bench_echo_options options_for(const net::endpoint& e) {
  bench_echo_options o;
  o.endpoint = e;
  o.duration = 300ms;
  o.connections = 4;
  o.size = 64;
  o.threads = 2;
  return o;
}

struct sockit_echo {
  echo_server server;
  explicit sockit_echo(bool udp, bool upper = false)
      : server([&] {
          echo_options o;
          o.endpoint = net::endpoint::parse("127.0.0.1:0");
          o.udp = udp;
          o.upper = upper;
          o.threads = 1;
          o.udp_rate = 0;  // every bench connection is 127.0.0.1: over the default limits
          return o;
        }()) {
    server.start();
  }
};

// A UDP echo server that changes one byte of every datagram: the benchmark must notice.
class corrupting_udp_echo {
 public:
  corrupting_udp_echo() {
    std::error_code ec;
    sock_ = net::socket::bind_datagram(net::endpoint::parse("127.0.0.1:0"), ec);
    thread_ = std::thread([this] {
      std::vector<std::byte> buf(65536);
      while (!stop_) {
        pollfd p{sock_.native_handle(), POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        net::socket_address from;
        std::error_code ec2;
        std::size_t n = sock_.recv_from(buf, from, ec2);
        if (ec2) continue;
        if (n > 20) buf[20] = std::byte{'!'};
        sock_.send_to(std::span(buf).first(n), from, ec2);
      }
    });
  }
  ~corrupting_udp_echo() {
    stop_ = true;
    thread_.join();
  }
  net::endpoint endpoint() const { return sock_.local_address().to_endpoint(net::transport::udp); }

 private:
  net::socket sock_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(BenchEcho, TcpAgainstSockitEchoHasNoMismatches) {
  sockit_echo echo(false, true);  // upper-casing: the payload survives it unchanged
  auto r = run_bench_echo(options_for(echo.server.local_endpoint()));
  EXPECT_GT(r.round_trips, 0u);
  EXPECT_EQ(r.mismatches, 0u);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(r.connected, 4u);
  EXPECT_EQ(r.bytes, r.round_trips * 64);
  EXPECT_EQ(r.latency.count(), r.round_trips);
  EXPECT_GT(r.seconds, 0.2);
  EXPECT_LE(r.seconds, 0.3 + 1e-9);
  EXPECT_GT(r.round_trips_per_second(), 0.0);
  EXPECT_GT(r.megabytes_per_second(), 0.0);
  EXPECT_GT(r.latency.percentile(50), 0u);
}

TEST(BenchEcho, TcpPipelinedLargeMessages) {
  sockit_echo echo(false);
  auto o = options_for(echo.server.local_endpoint());
  o.size = 100000;  // bigger than the socket buffers: writer and reader run at once
  o.pipeline = 3;
  o.connections = 2;
  auto r = run_bench_echo(o);
  EXPECT_GT(r.round_trips, 0u);
  EXPECT_EQ(r.round_trips % 3, 0u);
  EXPECT_EQ(r.mismatches, 0u);
  EXPECT_EQ(r.errors, 0u);
}

TEST(BenchEcho, UdpAgainstSockitEcho) {
  sockit_echo echo(true);
  auto o = options_for(echo.server.local_endpoint());
  o.udp = true;
  o.pipeline = 4;
  auto r = run_bench_echo(o);
  EXPECT_GT(r.round_trips, 0u);
  EXPECT_EQ(r.mismatches, 0u);
  EXPECT_EQ(r.errors, 0u);
}

TEST(BenchEcho, UdpTinyDatagramsWithoutSequenceNumbers) {
  sockit_echo echo(true);
  auto o = options_for(echo.server.local_endpoint());
  o.udp = true;
  o.size = 8;  // too small for a sequence number
  auto r = run_bench_echo(o);
  EXPECT_GT(r.round_trips, 0u);
  EXPECT_EQ(r.mismatches, 0u);
}

TEST(BenchEcho, UdpCorruptionIsCountedAsMismatches) {
  corrupting_udp_echo bad;
  auto o = options_for(bad.endpoint());
  o.udp = true;
  o.connections = 1;
  auto r = run_bench_echo(o);
  EXPECT_GT(r.mismatches, 0u);
  EXPECT_EQ(r.round_trips, 0u);  // no datagram came back intact
}

TEST(BenchEcho, NobodyListeningIsAnErrorPerConnection) {
  net::endpoint closed;
  {
    std::error_code ec;
    auto l = net::socket::listen(net::endpoint::parse("127.0.0.1:0"), ec);
    closed = l.local_address().to_endpoint();
  }
  auto o = options_for(closed);
  auto r = run_bench_echo(o);
  EXPECT_EQ(r.connected, 0u);
  EXPECT_EQ(r.errors, 4u);
  EXPECT_EQ(r.round_trips, 0u);
}

TEST(BenchEcho, SilentServerDoesNotHangTheBenchmark) {
  // Accepts (via the backlog) but never answers.
  std::error_code ec;
  auto l = net::socket::listen(net::endpoint::parse("127.0.0.1:0"), ec);
  auto o = options_for(l.local_address().to_endpoint());
  o.duration = 200ms;
  o.timeout = 200ms;
  o.connections = 2;
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_bench_echo(o);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(r.round_trips, 0u);
  EXPECT_GE(r.errors, 2u);  // each stalled connection counts
}

TEST(BenchEcho, InvalidOptionsThrow) {
  auto o = options_for(net::endpoint::parse("127.0.0.1:9"));
  o.connections = 0;
  EXPECT_THROW(run_bench_echo(o), std::invalid_argument);
  o.connections = 1;
  o.pipeline = 0;
  EXPECT_THROW(run_bench_echo(o), std::invalid_argument);
  o.pipeline = 1;
  o.size = 0;
  EXPECT_THROW(run_bench_echo(o), std::invalid_argument);
  o.endpoint = net::endpoint::inet("a..b", 9);
  EXPECT_THROW(run_bench_echo(o), std::system_error);
}

}  // namespace
}  // namespace sockit::service
