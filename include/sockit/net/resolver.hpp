// Blocking name resolution for endpoints (getaddrinfo). Thread-safe.
#pragma once

#include <string>
#include <system_error>
#include <vector>

#include "sockit/net/endpoint.hpp"
#include "sockit/net/socket_address.hpp"

namespace sockit::net {

enum class resolve_mode {
  connect,  // the addresses to try, in getaddrinfo's preferred order; empty host = loopback
  listen,   // the address to bind; empty host = every interface (IPv6 dual-stack when available)
};

/// Every address `e` stands for. Unix endpoints give one address and never fail.
/// On failure sets `ec` (sockit::errc::resolve_failed) and `why` names the host.
std::vector<socket_address> resolve(const endpoint& e, resolve_mode mode, std::error_code& ec,
                                    std::string* why = nullptr);

}  // namespace sockit::net
