// The proxy options of `sockit connect` (nc -X/-x, ncat --proxy): --proxy, --proxy-type,
// --proxy-dns and --proxy-auth-file. Credentials come from that file or SOCKIT_PROXY_AUTH,
// never the command line: there is no option that takes a password.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <system_error>

#include "sockit/net/endpoint.hpp"
#include "sockit/net/socket.hpp"

namespace sockit::cli {

struct proxy_cli {
  std::string proxy;  // empty: connect directly
  std::string type = "socks5";
  std::string auth_file;
  bool remote_dns = false;
};

void add_proxy_options(CLI::App* cmd, proxy_cli& p);
/// The proxy options without --proxy, or --proxy with UDP, are a usage error.
void check_proxy_options(const proxy_cli& p, bool udp);

/// A stream to `e`: directly, or through the proxy when there is one. `why` is the
/// one-line reason on failure. Throws std::runtime_error for unreadable credentials.
net::socket connect_stream(const net::endpoint& e, const proxy_cli& p, std::error_code& ec,
                           std::string& why);

}  // namespace sockit::cli
