// The machine's network interfaces (getifaddrs): what `ifconfig` / `ip addr` show.
#pragma once

#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "sockit/net/address.hpp"

namespace sockit::net {

struct interface_address {
  ip_address address;
  unsigned prefix = 0;                  // from the netmask (count of one bits)
  std::optional<ip_address> broadcast;  // IPv4 on broadcast-capable links
  std::optional<ip_address> peer;       // the other end of a point-to-point link
  std::uint32_t scope_id = 0;           // IPv6 link-local zone (the interface index)
};

struct network_interface {
  std::string name;
  unsigned index = 0;  // if_nametoindex
  unsigned flags = 0;  // IFF_* bits
  int mtu = -1;        // -1 when it could not be read
  std::string mac;     // "aa:bb:cc:dd:ee:ff"; empty when the link has none
  std::vector<interface_address> addresses;

  bool is_up() const noexcept;
  bool is_running() const noexcept;
  bool is_loopback() const noexcept;
  /// Names of the set IFF_* flags: "UP", "BROADCAST", "LOOPBACK", "RUNNING", "MULTICAST", ...
  std::vector<std::string> flag_names() const;
};

/// Every interface, in the order getifaddrs reports them, with its addresses grouped.
/// Safe to call from any thread.
std::vector<network_interface> list_interfaces(std::error_code& ec);

}  // namespace sockit::net
