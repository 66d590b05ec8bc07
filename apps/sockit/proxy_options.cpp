// The proxy options: CLI11 registration, checks, and the connect that uses them.
#include "proxy_options.hpp"

#include "sockit/service/proxy_client.hpp"

namespace sockit::cli {

void add_proxy_options(CLI::App* cmd, proxy_cli& p) {
  cmd->add_option("--proxy", p.proxy,
                  "Connect through this proxy: HOST:PORT or unix:/path (like nc -x, ncat --proxy)");
  cmd->add_option("--proxy-type", p.type, "socks5 (RFC 1928) or http (CONNECT)")
      ->capture_default_str()
      ->check(CLI::IsMember({"socks5", "http"}));
  cmd->add_flag("--proxy-dns", p.remote_dns,
                "SOCKS5: send the target's name for the proxy to resolve (curl's socks5h); "
                "HTTP CONNECT always does");
  cmd->add_option("--proxy-auth-file", p.auth_file,
                  "The proxy's user:password, from this file's first line (else "
                  "SOCKIT_PROXY_AUTH; never on the command line)")
      ->check(CLI::ExistingFile);
}

void check_proxy_options(const proxy_cli& p, bool udp) {
  if (p.proxy.empty()) {
    if (p.remote_dns || !p.auth_file.empty() || p.type != "socks5")
      throw CLI::ValidationError("--proxy-type, --proxy-dns and --proxy-auth-file need --proxy");
    return;
  }
  if (udp) throw CLI::ValidationError("--proxy tunnels TCP streams, not UDP");
}

net::socket connect_stream(const net::endpoint& e, const proxy_cli& p, std::error_code& ec,
                           std::string& why) {
  if (p.proxy.empty() || e.is_unix()) {
    if (!p.proxy.empty()) {
      ec = std::make_error_code(std::errc::invalid_argument);
      why = "--proxy reaches TCP targets, not a Unix socket";
      return {};
    }
    return net::socket::connect(e, ec, &why);
  }
  service::proxy_options o;
  o.kind = p.type == "http" ? service::proxy_kind::http : service::proxy_kind::socks5;
  o.proxy = net::endpoint::parse(p.proxy);
  o.remote_dns = p.remote_dns;
  o.credentials = p.auth_file.empty() ? service::proxy_credentials_from_environment()
                                      : service::read_proxy_credentials(p.auth_file);
  return service::connect_through_proxy(o, e, ec, why);
}

}  // namespace sockit::cli
