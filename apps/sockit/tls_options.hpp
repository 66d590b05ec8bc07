// The TLS options the subcommands share (docs/SECURITY.md). Clients: --plain or --tls, how
// the server's identity is trusted (--pin, --known-hosts, --accept-new, --cafile,
// --system-ca) and where the token comes from (--token-file, else SOCKIT_TOKEN). Servers:
// --cert/--key, else the stored identity. Never a token on the command line: there is no
// option that takes one.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "sockit/service/known_hosts.hpp"
#include "sockit/service/tls_identity.hpp"
#include "sockit/service/transfer_client.hpp"

namespace sockit::cli {

struct client_security {
  bool plain = false;  // put/get/ls: TLS unless --plain
  bool tls = false;    // connect: plaintext unless --tls (like ncat --ssl)
  std::string pin, known_hosts, token_file, cafile;
  bool accept_new = false, system_ca = false;
};

/// --pin, --known-hosts, --accept-new, --cafile and --system-ca (connect --tls).
void add_trust_options(CLI::App* cmd, client_security& s);
/// For the clients that are plaintext unless --tls (connect, chat join): the trust options
/// without --tls are a usage error (CLI::ValidationError).
void check_trust_needs_tls(const client_security& s);
/// --plain, the trust options and --token-file (put, get, ls).
void add_client_security_options(CLI::App* cmd, client_security& s);

/// The trust options as a policy; a new identity is asked about on the terminal when
/// there is one.
service::trust_policy trust_policy_of(const client_security& s);

/// True when a person is at the terminal (stdin and stderr are one): only then are
/// questions asked (never in scripts or tests, whose pipes are not terminals).
bool interactive();

/// The token for `what` (an endpoint, for the question): --token-file, else SOCKIT_TOKEN,
/// else, when `ask`, asked on the terminal without echo if interactive(); empty if none.
/// Throws std::runtime_error for an unreadable token file.
std::string client_token(const client_security& s, const std::string& what, bool ask = true);

/// Fills the options' TLS, trust and token fields (client_token for TLS, whose servers
/// always require one; a --plain client only takes --token-file or SOCKIT_TOKEN).
void apply_client_security(const client_security& s, service::transfer_client_options& opt,
                           const std::string& endpoint);

struct server_tls {
  std::string cert, key;
};

/// --cert and --key.
void add_server_cert_options(CLI::App* cmd, server_tls& s);
/// Checks that --cert/--key come together and only with TLS (`tls`); throws
/// CLI::ValidationError otherwise.
void check_server_cert_options(const server_tls& s, bool tls);
/// The server's identity: --cert/--key, else the one stored in the config directory
/// (generated on first use).
service::tls_identity server_identity(const server_tls& s);

}  // namespace sockit::cli
