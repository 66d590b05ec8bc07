// getaddrinfo wrapper turning endpoints into socket addresses.
#include "sockit/net/resolver.hpp"

#include <netdb.h>
#include <netinet/in.h>

#include <memory>

#include "sockit/net/error.hpp"

namespace sockit::net {

std::vector<socket_address> resolve(const endpoint& e, resolve_mode mode, std::error_code& ec,
                                    std::string* why) {
  ec.clear();
  if (e.is_unix()) return {socket_address::from_unix(e)};

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = e.proto() == transport::udp ? SOCK_DGRAM : SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  const char* host = e.host().empty() ? nullptr : e.host().c_str();
  if (mode == resolve_mode::listen) hints.ai_flags |= AI_PASSIVE;
  if (host == nullptr && mode == resolve_mode::listen) {
    // Every interface: prefer one IPv6 dual-stack socket, as most servers do.
    hints.ai_family = AF_INET6;
  }
  std::string service = std::to_string(e.port());
  addrinfo* raw = nullptr;
  int rc = getaddrinfo(host, service.c_str(), &hints, &raw);
  if (rc != 0 && host == nullptr && hints.ai_family == AF_INET6) {
    hints.ai_family = AF_INET;  // no IPv6 on this machine
    rc = getaddrinfo(host, service.c_str(), &hints, &raw);
  }
  if (rc != 0) {
    ec = make_error_code(errc::resolve_failed);
    if (why) *why = "cannot resolve '" + e.host() + "': " + gai_strerror(rc);
    return {};
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(raw, &freeaddrinfo);
  std::vector<socket_address> out;
  for (addrinfo* ai = raw; ai != nullptr; ai = ai->ai_next) {
    out.emplace_back(ai->ai_addr, ai->ai_addrlen);
  }
  if (out.empty()) {
    ec = make_error_code(errc::resolve_failed);
    if (why) *why = "no addresses for '" + e.host() + "'";
  }
  return out;
}

}  // namespace sockit::net
