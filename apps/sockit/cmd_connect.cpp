// sockit connect: like nc. stdin to the socket, the socket to stdout, binary-safe.
#include <fmt/format.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "cmd_framed.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "sockit/service/relay.hpp"
#include "sockit/service/tls_pump.hpp"
#include "tls_options.hpp"

namespace sockit::cli {
namespace {

struct connect_cli_options {
  std::string endpoint;
  bool udp = false;
  bool no_half_close = false;
  double wait = 1.0;
  bool verbose = false;
  bool framed = false;  // the framed-protocol console (cmd_framed.cpp)
  framed_options framed_opt;
  client_security security;  // --tls and how the server is trusted
};

int run_connect(const connect_cli_options& o) {
  auto e = net::endpoint::parse(o.endpoint, o.udp ? net::transport::udp : net::transport::tcp);
  if (o.udp) e = e.with_transport(net::transport::udp);
  const bool udp = e.proto() == net::transport::udp && !e.is_unix();
  std::error_code ec;
  std::string why;
  if (o.security.tls && udp) throw CLI::ValidationError("--tls is for TCP and Unix, not UDP");
  net::socket sock = net::socket::connect(e, ec, &why);
  if (ec) throw std::runtime_error(why.empty() ? ec.message() : why);
  const std::string peer = sock.peer_address().to_string(e.proto());
  // TLS: the relay talks to the pump's end of a socketpair (tls_pump.hpp); the pump's
  // destructor, after the relay, ends the connection.
  std::unique_ptr<service::tls_pump> pump;
  if (o.security.tls) {
    pump = service::tls_pump::connect(std::move(sock), trust_policy_of(o.security), e.to_string(),
                                      e.is_unix() ? std::string() : e.host(), 30, ec, why);
    if (!pump) throw std::runtime_error(e.to_string() + ": " + why);
    sock = pump->plain_socket();
  }
  if (o.verbose) {
    print_line(
        "connected to " + peer + (pump ? " (TLS 1.3, identity " + pump->peer_identity() + ")" : ""),
        stderr);
  }
  service::relay_options ro;
  ro.datagram = udp;
  ro.half_close = !o.no_half_close;
  ro.datagram_linger = seconds_to_ms(o.wait);
  auto r = service::relay(STDIN_FILENO, STDOUT_FILENO, sock, ro);
  if (r.error) throw std::runtime_error(e.to_string() + ": " + r.error.message());
  if (o.verbose) {
    print_line(fmt::format("sent {} bytes, received {} bytes{}", r.sent, r.received,
                           r.peer_closed ? "; peer closed" : ""),
               stderr);
  }
  return 0;
}

}  // namespace

void setup_connect(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<connect_cli_options>();
  auto* cmd = app.add_subcommand("connect", "Connect and pipe stdin/stdout both ways (like nc)");
  cmd->add_option("endpoint", o->endpoint, "HOST:PORT, [v6]:PORT, unix:/path, udp://HOST:PORT")
      ->required();
  cmd->add_flag("-u,--udp", o->udp, "UDP: each read of stdin is one datagram; replies are printed");
  cmd->add_flag("--no-half-close", o->no_half_close,
                "Exit at stdin EOF instead of half-closing and waiting for the peer to close");
  cmd->add_option("-w,--wait", o->wait, "UDP: after stdin EOF, wait this long for replies (s)")
      ->capture_default_str()
      ->check(not_negative("0 or more seconds"));
  cmd->add_flag("-v,--verbose", o->verbose, "Report the connection and byte counts on stderr");
  cmd->footer(
      "On stdin EOF the sending side is shut down (the peer's recv returns empty) and\n"
      "sockit exits once the peer closes, like `nc -N`.");
  cmd->add_flag("--tls", o->security.tls,
                "TLS 1.3 (like ncat --ssl): the server's identity is pinned (--pin, known_hosts) "
                "or its certificate verified (--cafile, --system-ca)");
  add_trust_options(cmd, o->security);
  cmd->add_flag("--framed", o->framed, "Protocol console: stdin lines are JSON frame headers");
  cmd->add_flag("--base64", o->framed_opt.base64, "With --framed: print received bodies as base64");
  cmd->add_option("--save-bodies", o->framed_opt.save_dir, "With --framed: save bodies to DIR");
  cmd->callback([o, &exit_code] {
    check_trust_needs_tls(o->security);
    if (o->framed && o->security.tls) throw CLI::ValidationError("--framed speaks plaintext");
    exit_code = o->framed ? run_framed(o->endpoint, o->framed_opt) : run_connect(*o);
  });
}

}  // namespace sockit::cli
