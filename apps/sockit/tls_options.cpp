// client_security: --plain/--pin/--known-hosts/--accept-new/--token-file, and the terminal
// prompt for an identity seen for the first time.
#include "client_security.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "output.hpp"
#include "sockit/service/access_token.hpp"
#include "sockit/service/tls_identity.hpp"

namespace sockit::cli {
namespace {

// SSH's question, asked on the controlling terminal (stdin may be a file being uploaded).
bool ask_on_terminal(const std::string& endpoint, const std::string& fp) {
  int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (tty < 0) return false;
  std::string q = "The server at " + escape_for_terminal(endpoint) + " has identity\n  " + fp +
                  "\nwhich is not in known_hosts. Compare it with what the server printed.\n"
                  "Trust it and remember it (yes/no)? ";
  (void)!::write(tty, q.data(), q.size());
  std::string answer;
  char c;
  while (answer.size() < 16 && ::read(tty, &c, 1) == 1 && c != '\n') answer += c;
  ::close(tty);
  return answer == "yes" || answer == "y";
}

}  // namespace

void add_client_security_options(CLI::App* cmd, client_security& s) {
  cmd->add_flag("--plain", s.plain,
                "No TLS: for a `serve --plain` (the token, if any, then travels in the clear)");
  cmd->add_option("--pin", s.pin, "The server identity to require, SHA256:... (as it prints)")
      ->check([](const std::string& v) {
        return service::is_fingerprint(v) ? std::string() : "not SHA256:<43 base64 characters>";
      });
  cmd->add_option("--known-hosts", s.known_hosts,
                  "File of trusted identities (default $XDG_CONFIG_HOME/sockit/known_hosts)");
  cmd->add_flag("--accept-new", s.accept_new,
                "Trust and record a server seen for the first time (a changed one is refused)");
  cmd->add_option("--token-file", s.token_file,
                  "File holding the server's token (else $SOCKIT_TOKEN; never on the command "
                  "line)");
}

void apply_client_security(const client_security& s, service::transfer_client_options& opt) {
  opt.tls = !s.plain;
  opt.pin = s.pin;
  opt.known_hosts = s.known_hosts;
  opt.accept_new = s.accept_new;
  opt.token = s.token_file.empty() ? service::token_from_environment()
                                   : service::read_token_file(s.token_file);
  if (::isatty(STDERR_FILENO) && ::isatty(STDIN_FILENO)) opt.confirm_new = ask_on_terminal;
}

}  // namespace sockit::cli
