// tls_options: the shared TLS options, and the terminal prompt for an identity seen for the
// first time.
#include "tls_options.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <termios.h>

#include <csignal>
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

bool interactive() { return ::isatty(STDERR_FILENO) && ::isatty(STDIN_FILENO); }

// A signal while the question is asked: noted, so that the terminal's echo is restored
// before the signal takes effect (as readpassphrase(3) does).
namespace {
volatile std::sig_atomic_t prompt_signal = 0;
extern "C" void on_prompt_signal(int sig) { prompt_signal = sig; }
}  // namespace

std::string ask_token_on_terminal(const std::string& what) {
  int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (tty < 0) return {};
  // No SA_RESTART: the read returns EINTR and the question ends.
  prompt_signal = 0;
  struct sigaction on {
  }, old_int{}, old_term{}, old_quit{}, old_tstp{};
  on.sa_handler = on_prompt_signal;
  sigemptyset(&on.sa_mask);
  ::sigaction(SIGINT, &on, &old_int);
  ::sigaction(SIGTERM, &on, &old_term);
  ::sigaction(SIGQUIT, &on, &old_quit);
  ::sigaction(SIGTSTP, &on, &old_tstp);
  termios saved{};
  bool quiet = ::tcgetattr(tty, &saved) == 0;
  if (quiet) {
    termios t = saved;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty, TCSAFLUSH, &t);
  }
  // Asked once the echo is off, so nothing typed after the question shows.
  std::string q = "Token for " + escape_for_terminal(what) + " (not shown): ";
  (void)!::write(tty, q.data(), q.size());
  std::string answer;
  char c;
  while (answer.size() < 1024 && prompt_signal == 0 && ::read(tty, &c, 1) == 1 && c != '\n')
    answer += c;
  if (quiet) ::tcsetattr(tty, TCSAFLUSH, &saved);
  (void)!::write(tty, "\n", 1);
  ::close(tty);
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  ::sigaction(SIGQUIT, &old_quit, nullptr);
  ::sigaction(SIGTSTP, &old_tstp, nullptr);
  if (prompt_signal != 0) {
    ::raise(prompt_signal);  // with the handler the program had, the echo back on
    return {};
  }
  while (!answer.empty() && (answer.back() == '\r' || answer.back() == ' ')) answer.pop_back();
  return answer;
}

std::string client_token(const client_security& s, const std::string& what, bool ask) {
  if (!s.token_file.empty()) return service::read_token_file(s.token_file);
  std::string t = service::token_from_environment();
  if (t.empty() && ask && interactive()) t = ask_token_on_terminal(what);
  return t;
}

void add_trust_options(CLI::App* cmd, client_security& s) {
  cmd->add_option("--pin", s.pin, "The server identity to require, SHA256:... (as it prints)")
      ->check([](const std::string& v) {
        return service::is_fingerprint(v) ? std::string() : "not SHA256:<43 base64 characters>";
      });
  cmd->add_option("--known-hosts", s.known_hosts,
                  "File of trusted identities (default $XDG_CONFIG_HOME/sockit/known_hosts)");
  cmd->add_flag("--accept-new", s.accept_new,
                "Trust and record a server seen for the first time (a changed one is refused)");
  auto* ca = cmd->add_option("--cafile", s.cafile,
                             "Verify the server's certificate chain and host name against these "
                             "CA certificates (PEM) instead of pinning")
                 ->check(CLI::ExistingFile);
  cmd->add_flag("--system-ca", s.system_ca,
                "Verify the server's certificate and host name against the system's CAs")
      ->excludes(ca);
}

void add_client_security_options(CLI::App* cmd, client_security& s) {
  cmd->add_flag("--plain", s.plain,
                "No TLS: for a `serve --plain` (the token, if any, then travels in the clear)");
  add_trust_options(cmd, s);
  cmd->add_option("--token-file", s.token_file,
                  "File holding the server's token (else $SOCKIT_TOKEN; never on the command "
                  "line)");
}

void check_trust_needs_tls(const client_security& s) {
  if (!s.tls && (!s.pin.empty() || !s.known_hosts.empty() || s.accept_new || !s.cafile.empty() ||
                 s.system_ca))
    throw CLI::ValidationError("--pin, --known-hosts, --accept-new and --cafile need --tls");
}

service::trust_policy trust_policy_of(const client_security& s) {
  service::trust_policy t;
  t.pin = s.pin;
  t.known_hosts = s.known_hosts;
  t.accept_new = s.accept_new;
  t.cafile = s.cafile;
  t.system_ca = s.system_ca;
  if (interactive()) t.confirm_new = ask_on_terminal;
  return t;
}

void apply_client_security(const client_security& s, service::transfer_client_options& opt,
                           const std::string& endpoint) {
  opt.tls = !s.plain;
  opt.trust = trust_policy_of(s);
  // A TLS serve always requires a token (its own or --token-file's), so one is asked for on
  // a terminal; a --plain one may not, and says so if it does.
  opt.token = client_token(s, endpoint, opt.tls);
}

void add_server_cert_options(CLI::App* cmd, server_tls& s) {
  cmd->add_option("--cert", s.cert, "TLS certificate (PEM) instead of the stored identity");
  cmd->add_option("--key", s.key, "Its private key (PEM)");
}

void check_server_cert_options(const server_tls& s, bool tls) {
  if (!tls && (!s.cert.empty() || !s.key.empty()))
    throw CLI::ValidationError("--cert/--key are for TLS");
  if (s.cert.empty() != s.key.empty()) throw CLI::ValidationError("give both --cert and --key");
}

service::tls_identity server_identity(const server_tls& s) {
  return s.cert.empty() ? service::load_or_create_identity(service::default_config_dir())
                        : service::load_identity(s.cert, s.key);
}

}  // namespace sockit::cli
