// Port probing like `nc -z`: which ports of one address accept a TCP connection (or, with
// UDP, answer or refuse a datagram). Non-blocking sockets and poll(); at most `concurrency`
// probes in flight, each bounded by `timeout`. No event loop; blocks the calling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sockit/net/address.hpp"

namespace sockit::net {

/// Parses "22", "22,80,443", "8000-8010", "http,1000-1002" (service names as /etc/services
/// knows them for `protocol`) into ports, in the order given, duplicates dropped. Port 0 is
/// refused: nothing can be connected to it. Sets `ec` (sockit::errc::invalid_port or
/// unknown_service) and `why` on bad input.
std::vector<std::uint16_t> parse_port_list(std::string_view spec, std::string_view protocol,
                                           std::error_code& ec, std::string* why = nullptr);

enum class port_state : std::uint8_t {
  open,           // TCP: connect() succeeded. UDP: a reply came back.
  closed,         // TCP: RST (ECONNREFUSED). UDP: ICMP port unreachable (ECONNREFUSED).
  filtered,       // TCP: no answer within the timeout.
  open_filtered,  // UDP: no answer and no refusal within the timeout (open or dropped).
  error,          // anything else (unreachable network, no descriptors, ...): see `error`.
};
const char* to_string(port_state s) noexcept;

struct probe_result {
  std::uint16_t port = 0;
  port_state state = port_state::error;
  std::error_code error;               // set for port_state::error
  std::chrono::nanoseconds elapsed{};  // from the probe's start to its verdict
};

struct probe_options {
  std::chrono::milliseconds timeout{1000};
  unsigned concurrency = 64;  // probes in flight at once (at least 1)
  bool udp = false;
};

/// Probes every port of `target`; results come back in the order of `ports`.
std::vector<probe_result> probe_ports(const ip_address& target,
                                      std::span<const std::uint16_t> ports,
                                      const probe_options& options);

}  // namespace sockit::net
