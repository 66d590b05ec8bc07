// sockit: one binary for echo servers, netcat-style piping, load generation and address
// utilities. main only wires the subcommands together and turns failures into one line.
#include <sys/resource.h>

#include <fmt/format.h>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include "commands.hpp"
#include "sockit/net/terminal_text.hpp"
#include "sockit/version.hpp"

namespace {

// Servers hold one descriptor per client: use every descriptor the hard limit allows.
void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that closes while we write must end that write with EPIPE, never the process.
  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();

  CLI::App app{
      "sockit: a socket toolkit. Echo servers, netcat-style connect/listen, load generation,\n"
      "and the socket tutorials' programs as real tools.",
      "sockit"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("sockit ") + sockit::version);
  app.footer(
      "Endpoints: HOST:PORT, [v6]:PORT, :PORT, PORT, unix:/path, unix:@abstract,\n"
      "optionally prefixed with tcp:// or udp://. Ports may be service names (localhost:http).\n"
      "Run `sockit demo` for a guided tour.");

  int exit_code = 0;
  sockit::cli::add_commands(app, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; a usage error exits 2, as nc and most tools do (CLI11's
    // own codes, such as 106, would mean nothing to a script).
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    // A message may quote a peer (a server's refusal, a name it sent). The shared rule's
    // chat rendering, not escape_for_terminal: it leaves the \xNN that net's own messages
    // already use for untrusted bytes as they are, instead of doubling their backslashes.
    fmt::print(stderr, "sockit: error: {}\n", sockit::net::neutralize(e.what()));
    return 1;
  }
  return exit_code;
}
