// sockit listen: accept one peer and pipe stdin/stdout both ways (the seeds' two-way chat).
#include <fmt/format.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "commands.hpp"
#include "listen_exec.hpp"
#include "output.hpp"
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
};

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
  if (::write(STDOUT_FILENO, buf.data(), n) < 0) return 1;
  sock.connect_to(from, ec);
  if (ec) throw std::runtime_error("connect: " + ec.message());
  service::relay_options ro;
  ro.datagram = true;
  ro.datagram_linger = seconds_to_ms(o.wait);
  auto r = service::relay(STDIN_FILENO, STDOUT_FILENO, sock, ro);
  if (r.error) throw std::runtime_error(r.error.message());
  return 0;
}

int run_listen(const listen_cli_options& o) {
  auto e = net::endpoint::parse(o.endpoint, o.udp ? net::transport::udp : net::transport::tcp);
  check_server_cert_options(o.cert, o.tls);
  if (o.udp || (e.proto() == net::transport::udp && !e.is_unix())) {
    if (o.tls) throw CLI::ValidationError("--tls is for TCP and Unix, not UDP");
    if (!o.exec.empty() || !o.sh_exec.empty())
      throw CLI::ValidationError("--exec and --sh-exec are for TCP and Unix, not UDP");
    return run_listen_udp(o, e.with_transport(net::transport::udp));
  }
  const bool exec = !o.exec.empty() || !o.sh_exec.empty();
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
    auto r = service::relay(STDIN_FILENO, STDOUT_FILENO, conn, service::relay_options{});
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
  cmd->add_flag("--json", o->json, "Readiness line as JSON (stdout stays the data channel)");
  cmd->add_flag("-v,--verbose", o->verbose, "Report peers and byte counts on stderr");
  cmd->footer(
      "The `listening on ENDPOINT` line goes to stderr: stdout carries the peer's bytes.\n"
      "--exec/--sh-exec (ncat -e/-c): the peer talks to the command, not to this terminal;\n"
      "its address is in $SOCKIT_PEER; the child's stderr is ours. A peer that resets or is\n"
      "gone both ways ends its child (SIGTERM, SIGKILL 2 s later); a half-close does not\n"
      "(the child reads EOF and may still answer). Without -k: one peer, then exit with\n"
      "the child's status. Anyone who can connect runs the command: listen on loopback or\n"
      "a Unix socket unless that is what you want.");
  cmd->callback([o, &exit_code] { exit_code = run_listen(*o); });
}

}  // namespace sockit::cli
