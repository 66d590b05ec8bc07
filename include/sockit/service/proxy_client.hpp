// proxy_client: a connection to a target through a SOCKS5 (RFC 1928, RFC 1929 user and
// password) or HTTP CONNECT proxy, for the blocking programs (`sockit connect --proxy`).
// The socket it returns carries the target's bytes: a TLS handshake or a relay runs on it
// as on a direct connection. Credentials come from a file or the environment
// (SOCKIT_PROXY_AUTH), never from argv (croc's CVE-2023-43621). No Asio.
#pragma once

#include <chrono>
#include <string>
#include <system_error>

#include "sockit/net/endpoint.hpp"
#include "sockit/net/socket.hpp"

namespace sockit::service {

enum class proxy_kind { socks5, http };

struct proxy_credentials {
  std::string user, password;
  bool empty() const noexcept { return user.empty(); }
};

struct proxy_options {
  proxy_kind kind = proxy_kind::socks5;
  net::endpoint proxy;  // TCP or Unix
  proxy_credentials credentials;
  /// SOCKS5: send the target's name for the proxy to resolve (curl's socks5h, nc -X 5 with a
  /// name) instead of resolving it here. HTTP CONNECT always sends the name.
  bool remote_dns = false;
  std::chrono::milliseconds timeout{30000};  // for the proxy's answers, all steps together
};

/// "user:password" (the first colon splits; the password may hold colons), as in a file's
/// first line or SOCKIT_PROXY_AUTH. Throws std::runtime_error, naming `source`, for a
/// missing colon, an empty user or password, a field over 255 bytes, or control bytes.
proxy_credentials parse_proxy_credentials(std::string_view text, const std::string& source);
/// The first line of `path` (std::runtime_error if it cannot be read or is over 1 KiB).
proxy_credentials read_proxy_credentials(const std::string& path);
/// SOCKIT_PROXY_AUTH, or none when it is unset.
proxy_credentials proxy_credentials_from_environment();

/// Connects to the proxy and asks it for a tunnel to `target` (a TCP endpoint). Without
/// remote_dns a SOCKS5 target name is resolved here and its addresses asked for in turn.
/// On failure `ec` is set and `why` says what the proxy said ("SOCKS5 proxy: connection
/// refused", "HTTP proxy: 407 Proxy Authentication Required"), escaped for a terminal.
net::socket connect_through_proxy(const proxy_options& options, const net::endpoint& target,
                                  std::error_code& ec, std::string& why);

}  // namespace sockit::service
