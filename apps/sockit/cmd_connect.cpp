// sockit connect: like nc. stdin to the socket, the socket to stdout, binary-safe.
#include <fmt/format.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "cmd_framed.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "proxy_options.hpp"
#include "traffic_log.hpp"
#include "sockit/net/address.hpp"
#include "sockit/net/multicast.hpp"
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
  client_security security;            // --tls and how the server is trusted
  net::datagram_sender_options group;  // --broadcast, --multicast-ttl, --iface
  proxy_cli proxy;                     // --proxy and its options (proxy_options.hpp)
  traffic_log_cli record;              // -x, -o
};

// The relay's tap into -x/-o, naming the peer.
auto recorder(traffic_log& record, const std::string& who) {
  return [&record, who](bool sent, std::uint64_t offset, std::span<const std::byte> data) {
    record.record(sent, who, offset, data);
  };
}

// UDP to a broadcast address or a multicast group: an unconnected socket, since the replies
// come from each responder's own address (socat's UDP-DATAGRAM, nc -b); all are printed.
int run_connect_group(const connect_cli_options& o, const net::endpoint& e, traffic_log& record) {
  std::error_code ec;
  std::string why;
  service::relay_options ro;
  net::socket sock = net::open_datagram_sender(e, o.group, ro.destination, ec, &why);
  if (ec) throw std::runtime_error(e.to_string() + ": " + why);
  const bool group = net::is_multicast(ro.destination);
  if (o.group.multicast_hops >= 0 && !group)
    throw CLI::ValidationError("--multicast-ttl is for a multicast group (224.0.0.0/4, ff00::/8)");
  if (!o.group.iface.empty() && !group && !o.group.broadcast)
    throw CLI::ValidationError("--iface is for a multicast group or --broadcast");
  const std::string to = ro.destination.to_string(net::transport::udp);
  if (o.verbose) print_line("sending to " + to + (group ? " (multicast)" : " (broadcast)"), stderr);
  if (o.verbose) {
    ro.on_reply = [](const net::socket_address& from, std::size_t n) {
      print_line(fmt::format("datagram from {} ({} bytes)", from.to_string(net::transport::udp), n),
                 stderr);
    };
  }
  ro.datagram = true;
  ro.datagram_linger = seconds_to_ms(o.wait);
  if (record.enabled()) ro.on_bytes = recorder(record, to);
  auto r = service::relay(STDIN_FILENO, STDOUT_FILENO, sock, ro);
  if (r.error) throw std::runtime_error(to + ": " + r.error.message());
  if (o.verbose) {
    print_line(fmt::format("sent {} datagrams, received {} ({} bytes)", r.datagrams_sent,
                           r.datagrams_received, r.received),
               stderr);
  }
  return 0;
}

int run_connect(const connect_cli_options& o) {
  auto e = net::endpoint::parse(o.endpoint, o.udp ? net::transport::udp : net::transport::tcp);
  if (o.udp) e = e.with_transport(net::transport::udp);
  const bool udp = e.proto() == net::transport::udp && !e.is_unix();
  check_proxy_options(o.proxy, udp);
  traffic_log record(o.record);  // before connecting: a bad path fails with nothing sent
  std::error_code ec;
  std::string why;
  if (o.security.tls && udp) throw CLI::ValidationError("--tls is for TCP and Unix, not UDP");
  if (o.group.broadcast || o.group.multicast_hops >= 0 || !o.group.iface.empty()) {
    if (!udp) throw CLI::ValidationError("--broadcast, --multicast-ttl and --iface are for UDP");
    return run_connect_group(o, e, record);
  }
  if (udp) {
    // A multicast group answers from its members' own addresses, as a broadcast does.
    auto literal = net::ip_address::parse(e.host().substr(0, e.host().find('%')), ec);
    if (!ec && literal.flags().is_multicast) return run_connect_group(o, e, record);
  }
  net::socket sock = connect_stream(e, o.proxy, ec, why);
  if (ec == std::errc::permission_denied && udp)  // the kernel's answer to a broadcast address
    why += " (to send to a broadcast address, add --broadcast)";
  if (ec) throw std::runtime_error(why.empty() ? ec.message() : why);
  const std::string peer = o.proxy.proxy.empty()
                               ? sock.peer_address().to_string(e.proto())
                               : e.to_string() + " through " + o.proxy.type + " proxy " +
                                     sock.peer_address().to_string(net::transport::tcp);
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
  if (record.enabled()) ro.on_bytes = recorder(record, peer);
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
  cmd->add_flag("-b,--broadcast", o->group.broadcast,
                "UDP: allow a broadcast address (SO_BROADCAST); replies from anyone are printed");
  cmd->add_option("--multicast-ttl", o->group.multicast_hops,
                  "UDP to a multicast group: routers it may cross (0-255; default 1, this link)")
      ->check(CLI::Range(0, 255));
  cmd->add_option("--iface", o->group.iface,
                  "UDP to a multicast group or with --broadcast: send by this interface");
  cmd->footer(
      "On stdin EOF the sending side is shut down (the peer's recv returns empty) and\n"
      "sockit exits once the peer closes, like `nc -N`.\n"
      "UDP to a multicast group (224.0.0.0/4, ff00::/8) or with --broadcast: replies come\n"
      "from any sender (-v says who); on a terminal their control bytes are escaped.");
  cmd->add_flag("--tls", o->security.tls,
                "TLS 1.3 (like ncat --ssl): the server's identity is pinned (--pin, known_hosts) "
                "or its certificate verified (--cafile, --system-ca)");
  add_trust_options(cmd, o->security);
  add_proxy_options(cmd, o->proxy);
  add_traffic_log_options(cmd, o->record);
  cmd->add_flag("--framed", o->framed, "Protocol console: stdin lines are JSON frame headers");
  cmd->add_flag("--base64", o->framed_opt.base64, "With --framed: print received bodies as base64");
  cmd->add_option("--save-bodies", o->framed_opt.save_dir, "With --framed: save bodies to DIR");
  cmd->callback([o, &exit_code] {
    check_trust_needs_tls(o->security);
    if (o->framed && o->security.tls) throw CLI::ValidationError("--framed speaks plaintext");
    if (o->framed && (!o->record.hexdump.empty() || !o->record.output.empty()))
      throw CLI::ValidationError("--framed prints frames itself; -x and -o are for the relay");
    if (o->framed && !o->proxy.proxy.empty())
      throw CLI::ValidationError("--framed connects directly, not through --proxy");
    exit_code = o->framed ? run_framed(o->endpoint, o->framed_opt) : run_connect(*o);
  });
}

}  // namespace sockit::cli
