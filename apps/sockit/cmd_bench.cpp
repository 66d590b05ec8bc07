// sockit bench echo: a load generator for any echo server, verifying every byte.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "commands.hpp"
#include "output.hpp"
#include "sockit/service/bench_echo.hpp"

namespace sockit::cli {
namespace {

struct bench_echo_cli_options {
  std::string endpoint;
  unsigned connections = 1;
  double duration = 5;
  std::size_t size = 64;
  unsigned pipeline = 1;
  unsigned threads = 1;
  double timeout = 1;
  bool udp = false;
  bool tls = false;
  bool json = false;
};

nlohmann::json latency_json(const service::latency_histogram& h) {
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  return {{"p50", us(h.percentile(50))}, {"p90", us(h.percentile(90))},
          {"p99", us(h.percentile(99))}, {"p99_9", us(h.percentile(99.9))},
          {"max", us(h.max())},          {"mean", h.mean() / 1000.0}};
}

int run_bench_echo_cmd(const bench_echo_cli_options& o) {
  service::bench_echo_options opt;
  opt.endpoint =
      net::endpoint::parse(o.endpoint, o.udp ? net::transport::udp : net::transport::tcp);
  opt.udp = o.udp || (opt.endpoint.proto() == net::transport::udp && !opt.endpoint.is_unix());
  opt.tls = o.tls;
  if (opt.tls && opt.udp) throw CLI::ValidationError("--tls is for TCP and Unix, not UDP");
  opt.connections = o.connections;
  opt.duration = seconds_to_ms(o.duration);
  opt.size = o.size;
  opt.pipeline = o.pipeline;
  opt.threads = o.threads;
  opt.timeout = seconds_to_ms(o.timeout);
  if (opt.udp && opt.size > 65507)
    throw std::invalid_argument("--size above 65507 bytes cannot be one UDP datagram");

  auto r = service::run_bench_echo(opt);
  const auto& h = r.latency;
  std::string target =
      opt.endpoint.with_transport(opt.udp ? net::transport::udp : net::transport::tcp).to_string();
  if (o.json) {
    print_json({{"event", "result"},
                {"endpoint", target},
                {"transport", opt.udp ? "udp" : (opt.endpoint.is_unix() ? "unix" : "tcp")},
                {"tls", opt.tls},
                {"connections", opt.connections},
                {"connected", r.connected},
                {"size", opt.size},
                {"pipeline", opt.pipeline},
                {"seconds", r.seconds},
                {"round_trips", r.round_trips},
                {"round_trips_per_second", r.round_trips_per_second()},
                {"megabytes_per_second", r.megabytes_per_second()},
                {"latency_us", latency_json(h)},
                {"errors", r.errors},
                {"mismatches", r.mismatches},
                {"timeouts", r.timeouts}});
  } else {
    print_line(fmt::format("bench echo {}{}: {} connections x {} B, pipeline {}, {:.1f} s", target,
                           opt.tls ? " (TLS)" : "", opt.connections, opt.size, opt.pipeline,
                           r.seconds));
    print_line(fmt::format("  round trips  {} ({}/s)", r.round_trips,
                           human_count(r.round_trips_per_second())));
    print_line(fmt::format("  throughput   {:.2f} MB/s echoed", r.megabytes_per_second()));
    print_line(fmt::format("  latency      p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                           human_duration_ns(h.percentile(50)), human_duration_ns(h.percentile(90)),
                           human_duration_ns(h.percentile(99)),
                           human_duration_ns(h.percentile(99.9)), human_duration_ns(h.max())));
    print_line(fmt::format("  connected {}/{}  errors {}  mismatches {}  timeouts {}", r.connected,
                           opt.connections, r.errors, r.mismatches, r.timeouts));
  }
  // Wrong bytes or no traffic at all is a failed run; occasional errors are reported only.
  return (r.mismatches != 0 || r.round_trips == 0) ? 1 : 0;
}

}  // namespace

void setup_bench(CLI::App& app, int& exit_code) {
  auto* bench = app.add_subcommand("bench", "Load generators that verify what comes back");
  bench->require_subcommand(1);
  auto o = std::make_shared<bench_echo_cli_options>();
  auto* cmd = bench->add_subcommand("echo", "Measure an echo server: round trips/s, MB/s, latency");
  cmd->add_option("endpoint", o->endpoint,
                  "The echo server: HOST:PORT, unix:/path, udp://HOST:PORT")
      ->required();
  cmd->add_option("-c,--connections", o->connections, "Concurrent connections")
      ->capture_default_str();
  // Checked here: a negative size would otherwise wrap to 2^64-1 and a negative duration
  // would "succeed" with no traffic measured.
  cmd->add_option("-d,--duration", o->duration, "Seconds to run")
      ->capture_default_str()
      ->check(positive("a positive number of seconds"));
  cmd->add_option("-s,--size", o->size, "Bytes per message")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{0}, std::size_t{64} << 20));
  cmd->add_option("-p,--pipeline", o->pipeline, "Messages in flight per connection")
      ->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Client event loops")->capture_default_str();
  cmd->add_option("--timeout", o->timeout, "Seconds before a silent server counts as an error")
      ->capture_default_str()
      ->check(positive("a positive number of seconds"));
  cmd->add_flag("-u,--udp", o->udp, "UDP datagrams instead of a stream");
  cmd->add_flag("--tls", o->tls,
                "TLS 1.3 on every connection (echo --tls, ncat --ssl); the server's identity is "
                "not checked: only the test pattern is sent");
  cmd->add_flag("--json", o->json, "One JSON object with the result");
  cmd->footer(
      "Payloads are digits and capitals, so `sockit echo --upper` returns them unchanged.\n"
      "Exit status 1 when any echoed byte differs or nothing came back.");
  cmd->callback([o, &exit_code] { exit_code = run_bench_echo_cmd(*o); });
}

}  // namespace sockit::cli
