// The security options every transfer client subcommand shares (put, get, ls): TLS or
// --plain, how the server's identity is pinned, and where the token comes from. Never a
// token on the command line: there is no option that takes one (docs/SECURITY.md).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "sockit/service/transfer_client.hpp"

namespace sockit::cli {

struct client_security {
  bool plain = false;
  std::string pin, known_hosts, token_file;
  bool accept_new = false;
};

/// Adds --plain, --pin, --known-hosts, --accept-new and --token-file to `cmd`.
void add_client_security_options(CLI::App* cmd, client_security& s);

/// Fills the options' TLS, pinning and token fields: the token from --token-file, else
/// SOCKIT_TOKEN; a new identity is asked about on the terminal when there is one. Throws
/// std::runtime_error for an unreadable token file.
void apply_client_security(const client_security& s, service::transfer_client_options& opt);

}  // namespace sockit::cli
