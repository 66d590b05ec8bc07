// known_hosts: the server identities a client has trusted, one line per endpoint, like
// SSH's ~/.ssh/known_hosts: "tcp://host:port SHA256:...". Trust on first use: an endpoint
// not in the file is added when the user (or --accept-new) accepts it; an endpoint whose
// server shows another identity is a hard failure. No Asio.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockit::service {

struct known_host {
  std::string endpoint;     // as the client names the server: endpoint::to_string()
  std::string fingerprint;  // "SHA256:..."
};

/// Parses the file's text. Blank lines and lines starting with '#' are skipped; a line that
/// is not "ENDPOINT FINGERPRINT" is skipped and counted in `bad_lines` (never fatal: one
/// broken line must not lock a user out of every other server). Pure: the fuzz target's.
std::vector<known_host> parse_known_hosts(std::string_view text, std::size_t* bad_lines = nullptr);

/// The default file: default_config_dir() + "/known_hosts".
std::string default_known_hosts_path();

/// What `path` says about `endpoint`: its fingerprint, or nothing. A missing file is empty.
std::optional<std::string> find_known_host(const std::string& path, std::string_view endpoint);

/// Appends "endpoint fingerprint" to `path` (created 0600, its directory 0700). Throws
/// std::runtime_error on failure.
void add_known_host(const std::string& path, std::string_view endpoint,
                    std::string_view fingerprint);

/// How a TLS client decides to trust the server it reached (docs/SECURITY.md): a CA when
/// one is named (for servers with real certificates: the chain and the host name are
/// checked), else the pinned identity, else known_hosts (trust on first use).
struct trust_policy {
  std::string pin;          // the identity to require, "SHA256:..."; empty: known_hosts
  std::string known_hosts;  // the file of trusted identities; empty: the default path
  bool accept_new = false;  // an endpoint not in known_hosts is trusted and recorded ...
  // ... or, if this is set, when it says yes (a terminal's prompt); otherwise refused.
  std::function<bool(const std::string& endpoint, const std::string& fingerprint)> confirm_new;
  std::string cafile;      // verify the chain against this PEM bundle instead of pinning
  bool system_ca = false;  // ... or against the system's store
  bool uses_ca() const noexcept { return system_ca || !cafile.empty(); }
};

/// The pinning half of trust_policy (pin, then known_hosts), for an identity `fingerprint`
/// shown by the server at `endpoint`: true to go on; false with `why` (one line) to refuse.
/// Records a newly accepted identity in known_hosts.
bool check_identity(const trust_policy& policy, const std::string& endpoint,
                    const std::string& fingerprint, std::string& why);

}  // namespace sockit::service
