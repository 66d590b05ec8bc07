// sockit forward: socat's `TCP-LISTEN:…,fork TCP:…`: every connection to LISTEN is relayed
// to TARGET, both ways, many at once, zero-copy. With --socks5 a SOCKS5 server instead.
#include <fmt/format.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "output.hpp"
#include "serving.hpp"
#include "sockit/service/forward.hpp"
#include "sockit/service/proxy_client.hpp"
#include "traffic_log.hpp"

namespace sockit::cli {
namespace {

struct forward_cli_options {
  std::string listen, target;
  unsigned threads = 0;
  std::size_t max_conns = 1024;
  std::size_t max_conns_per_ip = 32;
  double connect_timeout = 10;
  bool udp = false;
  double idle_timeout = 60;
  bool no_splice = false;
  bool json = false;
  bool verbose = false;
  bool socks5 = false;
  double handshake_timeout = 10;
  std::string users_file;
  std::vector<std::string> allow, deny;
  traffic_log_cli record;  // -x, -o
};

// --auth-file: one user:password per line; blank lines and # comments skipped. A file
// others can read is worth a warning (the passwords are in it as they are).
std::vector<service::forward_user> read_users(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw CLI::ValidationError("--auth-file: cannot read " + path);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
    print_line("sockit forward: warning: " + escape_for_terminal(path) +
                   " can be read by other users (chmod 600 it)",
               stderr);
  std::vector<service::forward_user> users;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    if (users.size() >= 10000) throw CLI::ValidationError("--auth-file: over 10000 users");
    try {
      auto c = service::parse_proxy_credentials(line, path + " line " + std::to_string(n));
      users.push_back({std::move(c.user), std::move(c.password)});
    } catch (const std::runtime_error& e) {
      throw CLI::ValidationError(std::string("--auth-file: ") + e.what());
    }
  }
  if (users.empty()) throw CLI::ValidationError("--auth-file: no user:password line in " + path);
  return users;
}

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
    if (!e.requested.empty()) j["requested"] = e.requested;
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
  if (!e.requested.empty()) line += " -> " + escape_for_terminal(e.requested);
  if (!e.target.empty())
    line += (e.requested.empty() ? " -> " : " at ") + escape_for_terminal(e.target);
  if (e.what == type::closed)
    line += fmt::format(" ({} bytes up, {} down, {:.3f} s)", e.bytes_up, e.bytes_down, e.seconds);
  if (!e.detail.empty()) line += ": " + e.detail;
  print_line(line, stderr);
}

int run_forward(const forward_cli_options& o) {
  service::forward_options opt;
  const auto transport = o.udp ? net::transport::udp : net::transport::tcp;
  opt.listen = net::endpoint::parse(o.listen, transport);
  if (!o.socks5) opt.target = net::endpoint::parse(o.target, transport);
  if (o.udp) {
    opt.listen = opt.listen.with_transport(net::transport::udp);
    if (!o.socks5) opt.target = opt.target.with_transport(net::transport::udp);
  }
  opt.udp_idle = seconds_to_ms(o.idle_timeout);
  opt.socks5 = o.socks5;
  opt.handshake_timeout = seconds_to_ms(o.handshake_timeout);
  if (!o.users_file.empty()) opt.users = read_users(o.users_file);
  opt.peers = net::address_filter(parse_subnets(o.allow), parse_subnets(o.deny));
  traffic_log record(o.record);
  if (record.enabled()) {
    opt.on_bytes = [&record](const std::string& peer, bool up, std::uint64_t offset,
                             std::span<const std::byte> data) {
      record.record(up, peer, offset, data);
    };
  }
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
  cmd->add_option("target", o->target,
                  "Where to connect: HOST:PORT, [::1]:PORT, unix:/path (not with --socks5)");
  add_server_caps(cmd, o->threads, o->max_conns, o->max_conns_per_ip);
  cmd->add_option("--connect-timeout", o->connect_timeout,
                  "Seconds to wait for TARGET to accept (per address), then close the client")
      ->capture_default_str()
      ->check(positive("a positive number of seconds"));
  cmd->add_flag("-u,--udp", o->udp,
                "UDP on both sides (or write udp://HOST:PORT): a flow per client address");
  cmd->add_option("--idle-timeout", o->idle_timeout,
                  "UDP: seconds without a datagram either way that end a client's flow")
      ->capture_default_str()
      ->check(positive("a positive number of seconds"));
  cmd->add_flag("--no-splice", o->no_splice,
                "Copy through a buffer instead of splice(2) (to compare; splicing is the default)");
  cmd->add_flag("--socks5", o->socks5,
                "Be a SOCKS5 server (RFC 1928, CONNECT only): each client names its target");
  cmd->add_option("--auth-file", o->users_file,
                  "SOCKS5: require a user and password (RFC 1929) from this file's "
                  "user:password lines")
      ->check(CLI::ExistingFile);
  cmd->add_option("--handshake-timeout", o->handshake_timeout,
                  "SOCKS5: seconds a client has to send its request, then it is closed")
      ->capture_default_str()
      ->check(positive("a positive number of seconds"));
  cmd->add_option("--allow", o->allow,
                  "Serve only clients in this subnet (repeatable; --socks5 without it: "
                  "loopback clients only)")
      ->allow_extra_args(false);
  cmd->add_option("--deny", o->deny,
                  "Refuse clients in this subnet (repeatable; wins over --allow)")
      ->allow_extra_args(false);
  add_traffic_log_options(cmd, o->record);
  cmd->add_flag("--json", o->json, "One JSON object per line on stdout (events included)");
  cmd->add_flag("-v,--verbose", o->verbose, "Log each connection to stderr");
  cmd->footer(
      "Prints `listening on ENDPOINT` once bound. TARGET is resolved once, at start; its\n"
      "addresses are tried in order for each connection. EOF in one direction is passed on\n"
      "(shutdown of the sending side) while the other keeps flowing. A target that is down\n"
      "or does not answer is logged (target_failed) and the client is closed.\n"
      "SIGINT/SIGTERM: stop accepting, close every connection, print a summary, exit 0.\n"
      "UDP (-u, or udp:// on both): each client address gets its own socket to TARGET, so\n"
      "replies go back to the client that asked; a flow ends after --idle-timeout of\n"
      "silence, and --max-conns/--max-conns-per-ip count flows. A datagram the kernel cannot\n"
      "take at once is dropped, as UDP allows.\n"
      "-x/-o record what each client sends (>) and receives (<), named by the client's\n"
      "address; recording copies the bytes instead of splicing them.\n"
      "--socks5: `sockit forward --socks5 127.0.0.1:1080`, then `curl --socks5-hostname\n"
      "127.0.0.1:1080 URL` or `sockit connect --proxy 127.0.0.1:1080 HOST:PORT`. Clients on\n"
      "other machines are refused unless --allow names them; with --auth-file each must\n"
      "send a listed user and password (in the clear, as RFC 1929 does: use it on networks\n"
      "you trust, or behind TLS). A SOCKS5 client reaches whatever this machine reaches,\n"
      "its loopback services included.");
  cmd->callback([o, &exit_code] {
    if (o->socks5 && !o->target.empty())
      throw CLI::ValidationError("--socks5 takes no TARGET: each client names its own");
    if (!o->socks5 && o->target.empty()) throw CLI::RequiredError("target");
    if (!o->socks5 && !o->users_file.empty())
      throw CLI::ValidationError("--auth-file is for --socks5");
    exit_code = run_forward(*o);
  });
}

}  // namespace sockit::cli
