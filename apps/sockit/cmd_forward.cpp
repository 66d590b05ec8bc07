// sockit forward: socat's `TCP-LISTEN:…,fork TCP:…`: every connection to LISTEN is relayed
// to TARGET, both ways, many at once, zero-copy.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "commands.hpp"
#include "output.hpp"
#include "serving.hpp"
#include "sockit/service/forward.hpp"

namespace sockit::cli {
namespace {

struct forward_cli_options {
  std::string listen, target;
  unsigned threads = 0;
  std::size_t max_conns = 1024;
  std::size_t max_conns_per_ip = 32;
  double connect_timeout = 10;
  bool no_splice = false;
  bool json = false;
  bool verbose = false;
};

const char* event_name(service::forward_event::type t) {
  using type = service::forward_event::type;
  switch (t) {
    case type::connected:
      return "connected";
    case type::target_failed:
      return "target_failed";
    case type::closed:
      return "closed";
    case type::rejected:
      return "rejected";
  }
  return "unknown";
}

void print_event(const service::forward_event& e, bool json) {
  using type = service::forward_event::type;
  if (json) {
    nlohmann::json j{{"event", event_name(e.what)}, {"peer", e.peer}};
    if (!e.target.empty()) j["target"] = e.target;
    if (e.what == type::closed) {
      j["bytes_up"] = e.bytes_up;
      j["bytes_down"] = e.bytes_down;
      j["seconds"] = e.seconds;
    }
    if (!e.detail.empty()) j["detail"] = e.detail;
    print_json(j);
    return;
  }
  std::string line = fmt::format("{} {}", event_name(e.what), escape_for_terminal(e.peer));
  if (!e.target.empty()) line += " -> " + escape_for_terminal(e.target);
  if (e.what == type::closed)
    line += fmt::format(" ({} bytes up, {} down, {:.3f} s)", e.bytes_up, e.bytes_down, e.seconds);
  if (!e.detail.empty()) line += ": " + e.detail;
  print_line(line, stderr);
}

int run_forward(const forward_cli_options& o) {
  service::forward_options opt;
  opt.listen = net::endpoint::parse(o.listen);
  opt.target = net::endpoint::parse(o.target);
  opt.threads = o.threads;
  opt.max_conns = o.max_conns;
  opt.max_conns_per_ip = o.max_conns_per_ip;
  opt.connect_timeout = seconds_to_ms(o.connect_timeout);
  opt.zero_copy = !o.no_splice;
  block_stop_signals();  // before any server thread exists, so they all inherit the mask
  std::optional<service::forward_server> made;
  try {
    made.emplace(opt);
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError(e.what());
  }
  service::forward_server& server = *made;
  // A target that is down is worth a line even without -v: every client is refused.
  server.on_event([json = o.json, verbose = o.verbose](const service::forward_event& e) {
    if (json || verbose || e.what == service::forward_event::type::target_failed)
      print_event(e, json);
  });
  int sig = serve_until_stop_signal(server, o.json);
  auto s = server.stats();
  print_stopped(sig,
                {{"accepted", s.accepted, "accepted"},
                 {"rejected", s.rejected, "rejected"},
                 {"target_failed", s.target_failed, "target failures"},
                 {"bytes_up", s.bytes_up, "bytes up"},
                 {"bytes_down", s.bytes_down, "bytes down"}},
                o.json);
  return 0;
}

}  // namespace

void setup_forward(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<forward_cli_options>();
  auto* cmd = app.add_subcommand(
      "forward", "Relay every connection to LISTEN to TARGET, both ways (socat's fork relay)");
  cmd->add_option("listen", o->listen, "Where to listen: :PORT, HOST:PORT, [::1]:PORT, unix:/path")
      ->required();
  cmd->add_option("target", o->target, "Where to connect: HOST:PORT, [::1]:PORT, unix:/path")
      ->required();
  add_server_caps(cmd, o->threads, o->max_conns, o->max_conns_per_ip);
  cmd->add_option("--connect-timeout", o->connect_timeout,
                  "Seconds to wait for TARGET to accept (per address), then close the client")
      ->capture_default_str()
      ->check(positive("a positive number of seconds"));
  cmd->add_flag("--no-splice", o->no_splice,
                "Copy through a buffer instead of splice(2) (to compare; splicing is the default)");
  cmd->add_flag("--json", o->json, "One JSON object per line on stdout (events included)");
  cmd->add_flag("-v,--verbose", o->verbose, "Log each connection to stderr");
  cmd->footer(
      "Prints `listening on ENDPOINT` once bound. TARGET is resolved once, at start; its\n"
      "addresses are tried in order for each connection. EOF in one direction is passed on\n"
      "(shutdown of the sending side) while the other keeps flowing. A target that is down\n"
      "or does not answer is logged (target_failed) and the client is closed.\n"
      "SIGINT/SIGTERM: stop accepting, close every connection, print a summary, exit 0.");
  cmd->callback([o, &exit_code] { exit_code = run_forward(*o); });
}

}  // namespace sockit::cli
