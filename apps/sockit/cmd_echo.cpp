// sockit echo: the seeds' (upper-casing) echo server for many clients, TCP, UDP or Unix.
#include <fmt/format.h>
#include <memory>
#include <string>

#include "commands.hpp"
#include "output.hpp"
#include "serving.hpp"
#include "sockit/service/echo.hpp"
#include "tls_options.hpp"

namespace sockit::cli {
namespace {

struct echo_cli_options {
  std::string endpoint;
  bool udp = false;
  bool upper = false;
  unsigned threads = 0;
  std::size_t max_conns = 1024;
  std::size_t max_conns_per_ip = 32;
  double idle_timeout = 300;
  double udp_rate = 1000;
  std::size_t udp_burst = 16;
  std::size_t udp_byte_rate = 1024 * 1024;
  std::size_t udp_byte_burst = 128 * 1024;
  bool json = false;
  bool verbose = false;
  bool tls = false;
  server_tls cert;
};

const char* event_name(service::echo_event::type t) {
  switch (t) {
    case service::echo_event::type::accepted:
      return "accepted";
    case service::echo_event::type::closed:
      return "closed";
    case service::echo_event::type::rejected:
      return "rejected";
    case service::echo_event::type::idle_timeout:
      return "idle_timeout";
  }
  return "unknown";
}

int run_echo(const echo_cli_options& o) {
  service::echo_options opt;
  opt.endpoint =
      net::endpoint::parse(o.endpoint, o.udp ? net::transport::udp : net::transport::tcp);
  opt.udp = o.udp || opt.endpoint.proto() == net::transport::udp;
  opt.upper = o.upper;
  opt.threads = o.threads;
  opt.max_conns = o.max_conns;
  opt.max_conns_per_ip = o.max_conns_per_ip;
  opt.idle_timeout = seconds_to_ms(o.idle_timeout);
  opt.udp_rate = o.udp_rate;
  opt.udp_burst = static_cast<double>(o.udp_burst);
  opt.udp_byte_rate = static_cast<double>(o.udp_byte_rate);
  opt.udp_byte_burst = static_cast<double>(o.udp_byte_burst);
  check_server_cert_options(o.cert, o.tls);
  if (o.tls && opt.udp) throw CLI::ValidationError("--tls is for TCP and Unix, not UDP");
  if (o.tls) opt.tls = server_identity(o.cert);

  block_stop_signals();  // before any server thread exists, so they all inherit the mask
  service::echo_server server(opt);
  if (o.json || o.verbose) {
    server.on_event([json = o.json](const service::echo_event& e) {
      if (json) {
        nlohmann::json j{{"event", event_name(e.what)}, {"peer", e.peer}};
        if (e.what != service::echo_event::type::accepted) j["bytes"] = e.bytes;
        if (!e.detail.empty()) j["detail"] = e.detail;
        print_json(j);
      } else {
        std::string line = fmt::format("{} {}", event_name(e.what), escape_for_terminal(e.peer));
        if (e.what != service::echo_event::type::accepted)
          line += fmt::format(" ({} bytes)", e.bytes);
        if (!e.detail.empty()) line += ": " + e.detail;
        print_line(line, stderr);
      }
    });
  }
  int sig = serve_until_stop_signal(server, o.json);
  auto s = server.stats();
  print_stopped(sig,
                {{"accepted", s.accepted, "accepted"},
                 {"rejected", s.rejected, "rejected"},
                 {"idle_closed", s.idle_closed, "idle-closed"},
                 {"bytes", s.bytes, "bytes echoed"},
                 {"datagrams", s.datagrams, opt.udp ? "datagrams" : nullptr},
                 {"udp_refused", s.udp_refused, opt.udp ? "refused (loop ports)" : nullptr},
                 {"udp_limited", s.udp_limited, opt.udp ? "rate-limited" : nullptr}},
                o.json);
  return 0;
}

}  // namespace

void setup_echo(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<echo_cli_options>();
  auto* cmd = app.add_subcommand("echo", "Echo server for many clients at once (TCP, UDP or Unix)");
  cmd->add_option("endpoint", o->endpoint,
                  "Where to listen: :PORT, HOST:PORT, [::1]:PORT, unix:/path")
      ->required();
  cmd->add_flag("-u,--udp", o->udp, "Echo UDP datagrams: each sender gets its datagram back");
  cmd->add_flag("--upper", o->upper, "Upper-case ASCII letters, like Python's bytes.upper()");
  add_server_caps(cmd, o->threads, o->max_conns, o->max_conns_per_ip);
  cmd->add_option("--idle-timeout", o->idle_timeout,
                  "Close clients silent for this many seconds (0 = never)")
      ->capture_default_str()
      ->check(not_negative("0 or more seconds"));
  cmd->add_option("--udp-rate", o->udp_rate,
                  "UDP replies per second per source address (IPv6: per /64) after the burst "
                  "(0 = no per-source limit at all)")
      ->capture_default_str()
      ->check(not_negative("0 (no limit) or more"));
  // Small on purpose: it is how many times a forged datagram bounces between two echo
  // servers before the loop dies.
  cmd->add_option("--udp-burst", o->udp_burst, "UDP replies a source may get at once")
      ->capture_default_str()
      ->check(positive("1 or more"));
  cmd->add_option("--udp-byte-rate", o->udp_byte_rate,
                  "UDP reply bytes per second per source address after the byte burst "
                  "(0 = bytes not limited)")
      ->capture_default_str()
      ->check(not_negative("0 (no limit) or more"));
  cmd->add_option("--udp-byte-burst", o->udp_byte_burst,
                  "UDP reply bytes a source may get at once; a larger datagram is never answered")
      ->capture_default_str()
      ->check(positive("1 or more bytes"));
  cmd->add_flag("--tls", o->tls,
                "TLS 1.3 (like ncat --ssl) with the stored identity (or --cert/--key); "
                "its fingerprint is in the listening line");
  add_server_cert_options(cmd, o->cert);
  cmd->add_flag("--json", o->json, "One JSON object per line on stdout (events included)");
  cmd->add_flag("-v,--verbose", o->verbose, "Log each connection to stderr");
  cmd->footer(
      "Prints `listening on ENDPOINT` once bound (port 0 picks a free port).\n"
      "UDP: no reply ever goes to a source port below 1024 (where echo 7, chargen 19 and the\n"
      "other small services live: the echo/chargen loop, CVE-1999-0103) or to the server's\n"
      "own port.\n"
      "SIGINT/SIGTERM: stop accepting, close clients, print a summary, exit 0.");
  cmd->callback([o, &exit_code] { exit_code = run_echo(*o); });
}

}  // namespace sockit::cli
