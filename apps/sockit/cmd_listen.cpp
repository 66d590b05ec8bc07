// sockit listen: accept one peer and pipe stdin/stdout both ways (the seeds' two-way chat).
#include <fmt/format.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "commands.hpp"
#include "listen_exec.hpp"
#include "traffic_log.hpp"
#include "output.hpp"
#include "sockit/net/multicast.hpp"
#include "sockit/service/relay.hpp"
#include "sockit/service/tls_pump.hpp"
#include "tls_options.hpp"

namespace sockit::cli {
namespace {

struct listen_cli_options {
  std::string endpoint;
  bool keep = false;
  bool udp = false;
  bool json = false;
  bool verbose = false;
  double wait = 1.0;
  bool tls = false;
  server_tls cert;
  std::string exec, sh_exec;
  std::size_t max_children = 16;
  bool multicast = false;
  std::string iface;
  traffic_log_cli record;  // -x, -o
};

// A group has many senders and no one peer: connecting to the first (as listen -u does)
// would drop every other member's datagrams, so this only receives, from anyone, until
// stopped. Anyone on the link may send, hence the escaping for a terminal.
int run_listen_group(const listen_cli_options& o, const net::endpoint& e) {
  std::error_code ec;
  std::string why;
  net::socket sock = net::listen_group(e, o.iface, ec, &why);
  if (ec) throw std::runtime_error(e.to_string() + ": " + why);
  print_listening(sock.local_address().to_endpoint(net::transport::udp), o.json, stderr);
  const bool escape = ::isatty(STDOUT_FILENO) == 1;
  traffic_log record(o.record);
  std::uint64_t received = 0;
  std::vector<std::byte> buf(65536);
  for (;;) {
    net::socket_address from;
    std::size_t n = sock.recv_from(buf, from, ec);
    if (ec) throw std::runtime_error("recvfrom: " + ec.message());
    if (record.enabled())
      record.record(false, from.to_string(net::transport::udp), received, std::span(buf).first(n));
    received += n;
    if (o.verbose) {
      print_line(fmt::format("datagram from {} ({} bytes)", from.to_string(net::transport::udp), n),
                 stderr);
    }
    ec = service::write_datagram(STDOUT_FILENO, std::span(buf).first(n), escape);
    if (ec) throw std::runtime_error("output: " + ec.message());
  }
}

int run_listen_udp(const listen_cli_options& o, const net::endpoint& e) {
  std::error_code ec;
  std::string why;
  net::socket sock = net::socket::bind_datagram(e, ec, &why);
  if (ec) throw std::runtime_error(why.empty() ? ec.message() : why);
  print_listening(sock.local_address().to_endpoint(net::transport::udp), o.json, stderr);
  // The first datagram picks the peer (as nc -u -l does); from then on it is a conversation.
  std::vector<std::byte> buf(65536);
  net::socket_address from;
  std::size_t n = sock.recv_from(buf, from, ec);
  if (ec) throw std::runtime_error("recvfrom: " + ec.message());
  if (o.verbose) print_line("datagram from " + from.to_string(net::transport::udp), stderr);
  traffic_log record(o.record);
  const std::string who = from.to_string(net::transport::udp);
  if (record.enabled()) record.record(false, who, 0, std::span(buf).first(n));
  if (::write(STDOUT_FILENO, buf.data(), n) < 0) return 1;
  sock.connect_to(from, ec);
  if (ec) throw std::runtime_error("connect: " + ec.message());
  service::relay_options ro;
  if (record.enabled()) {
    // The first datagram came before the relay: its received offsets start after it.
    ro.on_bytes = [&record, &who, first = n](bool sent, std::uint64_t offset,
                                              std::span<const std::byte> data) {
      record.record(sent, who, sent ? offset : offset + first, data);
    };
  }
  ro.datagram = true;
  ro.datagram_linger = seconds_to_ms(o.wait);
  auto r = service::relay(STDIN_FILENO, STDOUT_FILENO, sock, ro);
  if (r.error) throw std::runtime_error(r.error.message());
  return 0;
}

int run_listen(const listen_cli_options& o) {
  auto e = net::endpoint::parse(o.endpoint, o.udp ? net::transport::udp : net::transport::tcp);
  check_server_cert_options(o.cert, o.tls);
  if (!o.iface.empty() && !o.multicast) throw CLI::ValidationError("--iface is for --multicast");
  if (o.multicast && (o.tls || o.keep || !o.exec.empty() || !o.sh_exec.empty()))
    throw CLI::ValidationError("--multicast only receives: no --tls, -k, --exec or --sh-exec");
  if (o.multicast) return run_listen_group(o, e.with_transport(net::transport::udp));
  if (o.udp || (e.proto() == net::transport::udp && !e.is_unix())) {
    if (o.tls) throw CLI::ValidationError("--tls is for TCP and Unix, not UDP");
    if (!o.exec.empty() || !o.sh_exec.empty())
      throw CLI::ValidationError("--exec and --sh-exec are for TCP and Unix, not UDP");
    return run_listen_udp(o, e.with_transport(net::transport::udp));
  }
  const bool exec = !o.exec.empty() || !o.sh_exec.empty();
  if (exec && (!o.record.hexdump.empty() || !o.record.output.empty()))
    throw CLI::ValidationError(
        "-x and -o record what passes through sockit; with --exec the child has the socket");
  if (exec && o.tls)
    throw CLI::ValidationError(
        "--exec and --sh-exec do not take --tls yet (the child gets the "
        "socket itself)");
  service::tls_identity identity;
  if (o.tls) identity = server_identity(o.cert);
  std::error_code ec;
  std::string why;
  net::socket listener = net::socket::listen(e, ec, &why, 16);
  if (ec) throw std::runtime_error(why.empty() ? ec.message() : why);
  // stdout carries the peer's bytes, so the readiness line goes to stderr.
  auto bound = e.is_unix() ? e : listener.local_address().to_endpoint();
  print_listening(bound, o.json, stderr, identity.fingerprint);
  if (exec) {
    listen_exec_options xo;
    xo.command = o.exec.empty() ? service::exec_command::sh(o.sh_exec)
                                : service::exec_command::split(o.exec);
    xo.keep = o.keep;
    xo.max_children = o.max_children;
    xo.verbose = o.verbose;
    int rc = run_listen_exec(listener, xo);
    if (e.type() == net::endpoint::kind::unix_path) ::unlink(e.path().c_str());
    return rc;
  }
  traffic_log record(o.record);
  int status = 0;
  do {
    net::socket_address peer;
    net::socket conn = listener.accept(&peer, ec);
    if (ec) {
      print_line("sockit: accept: " + ec.message(), stderr);
      status = 1;
      continue;
    }
    if (o.verbose) print_line("connection from " + peer.to_string(), stderr);
    // TLS: the relay talks to the pump's end of a socketpair (tls_pump.hpp).
    std::unique_ptr<service::tls_pump> pump;
    if (o.tls) {
      pump = service::tls_pump::accept(std::move(conn), identity, 30, ec, why);
      if (!pump) {
        print_line("sockit: " + peer.to_string() + ": " + why, stderr);
        status = 1;
        continue;
      }
      conn = pump->plain_socket();
    }
    service::relay_options ro;
    const std::string who = peer.to_string();
    if (record.enabled()) {
      ro.on_bytes = [&record, &who](bool sent, std::uint64_t offset,
                                    std::span<const std::byte> data) {
        record.record(sent, who, offset, data);
      };
    }
    auto r = service::relay(STDIN_FILENO, STDOUT_FILENO, conn, ro);
    if (r.error) {
      print_line("sockit: " + peer.to_string() + ": " + r.error.message(), stderr);
      status = 1;
    } else {
      status = 0;
    }
    if (o.verbose) {
      print_line(fmt::format("{} left: sent {} bytes, received {} bytes", peer.to_string(), r.sent,
                             r.received),
                 stderr);
    }
  } while (o.keep);
  if (e.type() == net::endpoint::kind::unix_path) ::unlink(e.path().c_str());
  return status;
}

}  // namespace

void setup_listen(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<listen_cli_options>();
  auto* cmd =
      app.add_subcommand("listen", "Accept a peer and pipe stdin/stdout both ways (like nc -l)");
  cmd->add_option("endpoint", o->endpoint, "Where to listen: :PORT, HOST:PORT, unix:/path")
      ->required();
  cmd->add_flag("-k,--keep-open", o->keep, "After a peer leaves, wait for the next one");
  cmd->add_flag("-u,--udp", o->udp, "UDP: the first datagram's sender becomes the peer");
  cmd->add_option("-w,--wait", o->wait, "UDP: after stdin EOF, wait this long for datagrams (s)")
      ->capture_default_str()
      ->check(not_negative("0 or more seconds"));
  cmd->add_flag("--multicast", o->multicast,
                "UDP: ENDPOINT is a group GROUP:PORT to join (224.0.0.0/4, ff00::/8); prints "
                "every datagram sent to it, from anyone, until stopped (receives only)");
  cmd->add_option("--iface", o->iface,
                  "With --multicast: join on this interface (needed for ff02::/ff12:: groups, "
                  "or where no route leads to the group)");
  cmd->add_flag("--tls", o->tls,
                "TLS 1.3 (like ncat --ssl --listen) with the stored identity (or --cert/--key); "
                "its fingerprint is in the listening line");
  add_server_cert_options(cmd, o->cert);
  auto* ex = cmd->add_option("-e,--exec", o->exec,
                             "Run CMD for each peer with the socket as its stdin and stdout "
                             "(split on spaces, no shell). This GIVES THE PEER THE COMMAND");
  auto* sh = cmd->add_option("-c,--sh-exec", o->sh_exec,
                             "Like --exec, through /bin/sh -c CMD (pipes, quoting). This GIVES "
                             "THE PEER A SHELL COMMAND");
  ex->excludes(sh);
  cmd->add_option("--max-children", o->max_children,
                  "With --exec -k: peers served at once; more wait in the backlog")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}));
  add_traffic_log_options(cmd, o->record);
  cmd->add_flag("--json", o->json, "Readiness line as JSON (stdout stays the data channel)");
  cmd->add_flag("-v,--verbose", o->verbose, "Report peers and byte counts on stderr");
  cmd->footer(
      "The `listening on ENDPOINT` line goes to stderr: stdout carries the peer's bytes.\n"
      "--exec/--sh-exec (ncat -e/-c): the peer talks to the command, not to this terminal;\n"
      "its address is in $SOCKIT_PEER; the child's stderr is ours. A peer that resets or is\n"
      "gone both ways ends its child (SIGTERM, SIGKILL 2 s later); a half-close does not\n"
      "(the child reads EOF and may still answer). Without -k: one peer, then exit with\n"
      "the child's status. Anyone who can connect runs the command: listen on loopback or\n"
      "a Unix socket unless that is what you want.\n"
      "--multicast binds the group's address: listeners of other groups (or unicast) on the\n"
      "same port are not disturbed, and several listeners may join one group.");
  cmd->callback([o, &exit_code] { exit_code = run_listen(*o); });
}

}  // namespace sockit::cli
