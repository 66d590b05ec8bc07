// Endpoint: where to listen or connect, parsed once from the text users type.
//   HOST:PORT  [v6]:PORT  :PORT  PORT  unix:/path  unix:@abstract
// with an optional tcp:// or udp:// prefix, and service names for ports (localhost:http).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace sockit::net {

enum class transport : std::uint8_t { tcp, udp };

class endpoint {
 public:
  enum class kind : std::uint8_t { inet, unix_path, unix_abstract };

  /// Longest Unix socket path (sun_path minus the terminating NUL) and abstract name.
  static constexpr std::size_t max_unix_path = 107;

  endpoint() = default;
  static endpoint inet(std::string host, std::uint16_t port, transport t = transport::tcp);
  static endpoint unix_socket(std::string path, bool abstract = false);

  /// Parses `text`; `fallback` is the transport when the text has no tcp:// or udp:// prefix.
  /// Throws std::system_error whose what() names the part that is wrong.
  static endpoint parse(std::string_view text, transport fallback = transport::tcp);
  /// Non-throwing form: on failure sets `ec` and returns an empty endpoint.
  static endpoint parse(std::string_view text, std::error_code& ec,
                        transport fallback = transport::tcp) noexcept;
  /// As above, and `why` receives a one-line explanation on failure.
  static endpoint parse(std::string_view text, std::error_code& ec, std::string& why,
                        transport fallback = transport::tcp);

  kind type() const noexcept { return kind_; }
  bool is_unix() const noexcept { return kind_ != kind::inet; }
  /// Host name or address literal (no brackets); empty means every interface.
  const std::string& host() const noexcept { return host_; }
  std::uint16_t port() const noexcept { return port_; }
  /// Unix socket path, or abstract name without the leading '@'.
  const std::string& path() const noexcept { return host_; }
  transport proto() const noexcept { return transport_; }
  endpoint with_transport(transport t) const;
  endpoint with_port(std::uint16_t port) const;

  /// Canonical text: tcp://127.0.0.1:80, udp://[::1]:53, tcp://:8080, unix:/p, unix:@n.
  /// parse(to_string()) gives back an equal endpoint.
  std::string to_string() const;

  friend bool operator==(const endpoint&, const endpoint&) = default;

 private:
  kind kind_ = kind::inet;
  transport transport_ = transport::tcp;
  std::uint16_t port_ = 0;
  std::string host_;
};

/// Looks up a service name in /etc/services ("http" -> 80). Thread-safe.
/// Returns false when the name is unknown for that transport.
bool lookup_service_port(std::string_view name, transport t, std::uint16_t& port);

}  // namespace sockit::net
