// sockit's own error codes: invalid input and the framing violations every protocol shares,
// as std::error_code. Ordinary network events (EOF, reset, a timeout: std::errc::timed_out)
// stay in the system/asio categories; the file service's own errors are
// sockit/service/transfer_error.hpp.
#pragma once

#include <string>
#include <system_error>

namespace sockit {

enum class errc {
  ok = 0,
  // net/: parsing and lookups
  invalid_endpoint = 1,  // the text is not an endpoint at all
  invalid_port,          // port number out of 0..65535 or malformed
  unknown_service,       // a service name /etc/services does not know
  invalid_address,       // not an IPv4/IPv6 address
  path_too_long,         // Unix socket path longer than sun_path allows
  resolve_failed,        // getaddrinfo found nothing
  invalid_prefix,        // prefix length out of range
  invalid_mask,          // netmask not contiguous
  family_mismatch,       // an IPv4 value where IPv6 is needed, or the other way round
  name_not_found,        // a reverse lookup found no name for the address
  invalid_size,          // a packet size, MTU or header length out of range
  // codec/ and services: protocol violations
  frame_too_large = 100,
  bad_header,
  too_many_connections,
  body_too_large,   // a frame announces a body over the receiver's limit
  header_too_deep,  // JSON header nested deeper than the limit
  bad_magic,        // a connection opened with neither the magic nor a classic header
  protocol_error,   // a well-formed frame that is wrong at this point of the exchange
};

/// The category of every sockit::errc value. Safe to call from any thread.
const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace sockit

template <>
struct std::is_error_code_enum<sockit::errc> : std::true_type {};
