// Name, address and service lookups: thread-safe wrappers of getaddrinfo, getnameinfo,
// gethostbyname2_r, gethostbyaddr_r, getservbyname_r and getservbyport_r, returning values.
// Every function here is safe to call from any thread at any time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sockit/net/address.hpp"

namespace sockit::net {

// ---- services (/etc/services)

/// One /etc/services entry: "http 80/tcp www".
struct service_entry {
  std::string name;
  std::vector<std::string> aliases;
  std::uint16_t port = 0;
  std::string protocol;  // "tcp", "udp", ...
};

/// getservbyname(name, proto): the entry for a service name or alias. An empty `protocol`
/// takes the first entry of any protocol, as Python's socket.getservbyname does.
std::optional<service_entry> service_by_name(std::string_view name, std::string_view protocol = {});
/// getservbyport(port, proto).
std::optional<service_entry> service_by_port(std::uint16_t port, std::string_view protocol = {});

/// IANA's port ranges (RFC 6335): 0-1023 system (well-known), 1024-49151 user (registered),
/// 49152-65535 dynamic/private (ephemeral).
enum class port_range : std::uint8_t { well_known, registered, dynamic };
constexpr port_range classify_port(std::uint16_t port) noexcept {
  return port < 1024    ? port_range::well_known
         : port < 49152 ? port_range::registered
                        : port_range::dynamic;
}
const char* to_string(port_range r) noexcept;

// ---- host names and addresses

/// gethostname().
std::string host_name();
/// The fully qualified name of `name` as `hostname -f` finds it (getaddrinfo's canonical
/// name); `name` itself when resolution fails.
std::string fully_qualified_name(const std::string& name);

enum class address_family : std::uint8_t { any, v4, v6 };

struct host_lookup {
  std::string canonical_name;         // AI_CANONNAME
  std::vector<std::string> aliases;   // h_aliases of gethostbyname2_r, for each family asked
  std::vector<ip_address> addresses;  // getaddrinfo's order (RFC 6724), each address once
  std::uint16_t port = 0;             // the service's port when one was asked for
};

/// Every address of `name` (a host name or an address literal), in the order getaddrinfo
/// prefers. `service` (a name or number; may be empty) is resolved for TCP, or UDP when
/// `udp`. On failure sets `ec` (sockit::errc::resolve_failed, unknown_service) and `why`.
host_lookup lookup_host(const std::string& name, address_family family, std::error_code& ec,
                        std::string* why = nullptr, const std::string& service = {},
                        bool udp = false);

struct reverse_lookup_result {
  std::string name;                  // getnameinfo(NI_NAMEREQD)
  std::vector<std::string> aliases;  // gethostbyaddr_r's h_aliases
  std::string pointer;               // the PTR query name (4.3.2.1.in-addr.arpa)
};

/// The name(s) for an address, like Python's socket.gethostbyaddr. When there is none,
/// sets `ec` to sockit::errc::name_not_found (errc::resolve_failed for other failures).
reverse_lookup_result reverse_lookup(const ip_address& address, std::error_code& ec,
                                     std::string* why = nullptr);

}  // namespace sockit::net
