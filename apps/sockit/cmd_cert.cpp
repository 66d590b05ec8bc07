// sockit cert: the server identity that serve, echo --tls and listen --tls use: its
// fingerprint (what clients pin) and its certificate, exported for peers that verify against
// a CA file instead (`ncat --ssl-verify --ssl-trustfile`, `socat OPENSSL:...,cafile=`, curl).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "commands.hpp"
#include "output.hpp"
#include "sockit/service/tls_identity.hpp"
#include "tls_options.hpp"

namespace sockit::cli {
namespace {

struct cert_cli_options {
  server_tls cert;
  std::string out = "-";
  bool json = false;
};

std::string where(const cert_cli_options& o) {
  return o.cert.cert.empty() ? service::default_config_dir() + "/identity.pem" : o.cert.cert;
}

int run_show(const cert_cli_options& o) {
  check_server_cert_options(o.cert, true);
  auto id = server_identity(o.cert);
  if (o.json) {
    print_json({{"event", "identity"}, {"identity", id.fingerprint}, {"file", where(o)}});
  } else {
    print_line("identity " + id.fingerprint + " (" + escape_for_terminal(where(o)) + ")");
  }
  return 0;
}

// The certificate only: the private key never leaves identity.pem.
int run_export(const cert_cli_options& o) {
  check_server_cert_options(o.cert, true);
  auto id = server_identity(o.cert);
  int fd = STDOUT_FILENO;
  if (o.out != "-") {
    fd = ::open(o.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot write " + o.out + ": " + std::strerror(errno));
  }
  std::error_code ec;
  std::string_view left = id.cert_pem;
  while (!left.empty() && !ec) {
    ssize_t n = ::write(fd, left.data(), left.size());
    if (n < 0 && errno != EINTR) ec = {errno, std::system_category()};
    if (n > 0) left.remove_prefix(static_cast<std::size_t>(n));
  }
  if (fd != STDOUT_FILENO && ::close(fd) != 0 && !ec) ec = {errno, std::system_category()};
  if (ec) throw std::runtime_error("cannot write " + o.out + ": " + ec.message());
  if (o.out != "-")
    print_line("wrote the certificate of " + id.fingerprint + " to " + o.out, stderr);
  return 0;
}

}  // namespace

void setup_cert(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<cert_cli_options>();
  auto* cmd = app.add_subcommand("cert", "The TLS identity servers show: fingerprint, certificate");
  cmd->require_subcommand(1);
  auto* show = cmd->add_subcommand("show", "Print the identity (SHA256:...) clients pin");
  add_server_cert_options(show, o->cert);
  show->add_flag("--json", o->json, "As a JSON object");
  show->callback([o, &exit_code] { exit_code = run_show(*o); });
  auto* exp = cmd->add_subcommand(
      "export", "Write the certificate (PEM, no key) for peers that verify a CA file");
  exp->add_option("file", o->out, "Where to write it (- for stdout)")->capture_default_str();
  add_server_cert_options(exp, o->cert);
  exp->callback([o, &exit_code] { exit_code = run_export(*o); });
  cmd->footer(
      "The identity is made on first use and kept in $XDG_CONFIG_HOME/sockit/identity.pem\n"
      "(mode 0600); serve, echo --tls and listen --tls show the same one.\n"
      "  sockit cert export sockit.pem\n"
      "  ncat --ssl-verify --ssl-trustfile sockit.pem localhost PORT\n"
      "  socat - OPENSSL:localhost:PORT,cafile=sockit.pem");
}

}  // namespace sockit::cli
