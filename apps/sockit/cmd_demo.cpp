// sockit demo: a guided tour on loopback ephemeral ports. Each step names the tutorial idea it
// shows, runs it for real, and prints its result; any failed step makes the exit status 1.
#include <unistd.h>

#include <fmt/format.h>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "output.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/service/bench_echo.hpp"
#include "sockit/service/echo.hpp"

namespace sockit::cli {
namespace {

std::string recv_some(net::socket& s, std::size_t max = 4096) {
  std::string buf(max, '\0');
  std::error_code ec;
  std::size_t n = s.recv(std::as_writable_bytes(std::span(buf.data(), buf.size())), ec);
  if (ec) throw std::runtime_error("recv: " + ec.message());
  buf.resize(n);
  return buf;
}

void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

// An echo server on `at` with one loop; `upper` as --upper.
std::unique_ptr<service::echo_server> start_echo(const std::string& at, bool upper) {
  service::echo_options opt;
  opt.endpoint = net::endpoint::parse(at);
  opt.udp = opt.endpoint.proto() == net::transport::udp;
  opt.upper = upper;
  opt.threads = 1;
  auto server = std::make_unique<service::echo_server>(opt);
  server->start();
  return server;
}

// Connects to a stream echo server, sends `msg` and reads as many bytes back.
std::pair<net::socket, std::string> stream_round_trip(const net::endpoint& at,
                                                      std::string_view msg) {
  std::error_code ec;
  std::string why;
  net::socket c = net::socket::connect(at, ec, &why);
  expect(!ec, why);
  c.send_all(net::as_bytes(msg), ec);
  expect(!ec, "send: " + ec.message());
  std::string reply;
  while (reply.size() < msg.size()) {
    std::string part = recv_some(c);
    expect(!part.empty(), "server closed early");
    reply += part;
  }
  return {std::move(c), std::move(reply)};
}

std::string step_tcp_upper() {
  auto server = start_echo("127.0.0.1:0", true);
  auto [c, reply] = stream_round_trip(server->local_endpoint(), "hello, sockit");
  expect(reply == "HELLO, SOCKIT", "unexpected reply '" + reply + "'");
  std::error_code ec;
  c.shutdown_write(ec);
  std::string after = recv_some(c);
  expect(after.empty(), "expected recv() to return empty after shutdown");
  server->stop();
  return fmt::format(
      "{}: sent 'hello, sockit', got '{}'; after our shutdown the server's recv "
      "returned empty, so it closed and recv() gave us b'' too",
      server->local_endpoint().to_string(), reply);
}

std::string step_udp() {
  auto server = start_echo("udp://127.0.0.1:0", true);
  std::error_code ec;
  net::socket c = net::socket::bind_datagram(net::endpoint::parse("127.0.0.1:0"), ec);
  expect(!ec, "bind: " + ec.message());
  auto to = server->local_endpoint();
  std::string why;
  net::socket target = net::socket::connect(to, ec, &why);  // resolve the address once
  expect(!ec, why);
  auto addr = target.peer_address();
  c.send_to(net::as_bytes("datagram one"), addr, ec);
  expect(!ec, "sendto: " + ec.message());
  std::string buf(65536, '\0');
  net::socket_address from;
  std::size_t n = c.recv_from(std::as_writable_bytes(std::span(buf.data(), buf.size())), from, ec);
  expect(!ec, "recvfrom: " + ec.message());
  buf.resize(n);
  expect(buf == "DATAGRAM ONE", "unexpected reply '" + buf + "'");
  server->stop();
  return fmt::format(
      "{}: sendto('datagram one') -> recvfrom() = ('{}', {}); no connection, "
      "each datagram carries the sender's address",
      to.to_string(), buf, from.to_string(net::transport::udp));
}

std::string step_unix() {
  auto dir = std::filesystem::temp_directory_path() / fmt::format("sockit-demo-{}", ::getpid());
  std::filesystem::create_directories(dir);
  auto path = (dir / "echo.sock").string();
  std::string result;
  {
    auto server = start_echo("unix:" + path, false);
    auto [c, reply] = stream_round_trip(server->local_endpoint(), "over AF_UNIX");
    expect(reply == "over AF_UNIX", "unexpected reply '" + reply + "'");
    server->stop();
    result = fmt::format(
        "{}: the same echo over a socket file, no TCP/IP stack involved; "
        "got '{}' back",
        server->local_endpoint().to_string(), reply);
  }
  std::filesystem::remove_all(dir);
  return result;
}

std::string step_bench() {
  auto server = start_echo("127.0.0.1:0", false);
  service::bench_echo_options b;
  b.endpoint = server->local_endpoint();
  b.connections = 10;
  b.duration = std::chrono::milliseconds(500);
  b.size = 64;
  auto r = service::run_bench_echo(b);
  server->stop();
  expect(r.mismatches == 0, fmt::format("{} mismatched echoes", r.mismatches));
  expect(r.round_trips > 0, "no round trips completed");
  return fmt::format(
      "10 connections x 64 B for 0.5 s: {} round trips/s, p99 {}, every byte "
      "verified ({} mismatches); the server handled all clients at once",
      human_count(r.round_trips_per_second()), human_duration_ns(r.latency.percentile(99)),
      r.mismatches);
}

int run_demo() {
  const std::vector<demo_step> steps = demo_steps();
  const bool color = use_color(stdout);
  auto paint = [&](const char* code, const std::string& s) {
    return color ? fmt::format("\x1b[{}m{}\x1b[0m", code, s) : s;
  };
  int failed = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const auto& s = steps[i];
    print_line(fmt::format("[{}/{}] {}", i + 1, steps.size(), paint("1", s.title)));
    print_line("      shows: " + s.teaches);
    try {
      print_line("      " + paint("32", "ok") + "   " + s.run());
    } catch (const std::exception& e) {
      ++failed;
      print_line("      " + paint("31", "FAILED") + " " + e.what());
    }
  }
  print_line(failed == 0 ? fmt::format("demo: all {} steps passed", steps.size())
                         : fmt::format("demo: {} of {} steps failed", failed, steps.size()));
  return failed == 0 ? 0 : 1;
}

}  // namespace

demo_step demo_tcp_echo() {
  return {"TCP echo, upper-cased",
          "socket/bind/listen/accept, then the communication loop: recv, conn.send(msg.upper()), "
          "until recv returns empty because the peer closed",
          step_tcp_upper};
}

demo_step demo_udp_echo() {
  return {"UDP echo", "recvfrom/sendto: a datagram socket answers each sender at its address",
          step_udp};
}

demo_step demo_unix_echo() {
  return {"Unix-socket echo", "AF_UNIX: the same stream API on a path in the file system",
          step_unix};
}

demo_step demo_many_clients() {
  return {"many clients at once, measured",
          "a server that serves many clients concurrently (not one after another), and sockit "
          "bench echo checking every echoed byte",
          step_bench};
}

void setup_demo(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("demo", "A guided tour of sockit on loopback, step by step");
  cmd->callback([&exit_code] { exit_code = run_demo(); });
}

}  // namespace sockit::cli
