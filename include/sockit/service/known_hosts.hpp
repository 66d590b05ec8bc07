// known_hosts: the server identities a client has trusted, one line per endpoint, like
// SSH's ~/.ssh/known_hosts: "tcp://host:port SHA256:...". Trust on first use: an endpoint
// not in the file is added when the user (or --accept-new) accepts it; an endpoint whose
// server shows another identity is a hard failure. No Asio.
#pragma once

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

}  // namespace sockit::service
