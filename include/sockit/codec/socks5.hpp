// socks5: the messages of SOCKS version 5 (RFC 1928) and its user/password sub-negotiation
// (RFC 1929), both directions: what `connect --proxy` sends and reads, and what
// `forward --socks5` reads and sends. No I/O: a parse looks at the bytes read so far and
// says whether the message is complete (and its size), needs at least `size` bytes in all,
// or is invalid. Each message's length follows from its first bytes, so a reader never takes
// a byte that belongs to what comes after (the tunnel's own data). No Asio.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sockit::codec::socks5 {

inline constexpr std::uint8_t version = 5;
inline constexpr std::uint8_t auth_version = 1;  // RFC 1929's sub-negotiation

enum class method : std::uint8_t {
  none = 0x00,
  user_password = 0x02,
  no_acceptable = 0xff,
};

enum class command : std::uint8_t { connect = 1, bind = 2, udp_associate = 3 };

enum class reply : std::uint8_t {
  succeeded = 0,
  general_failure = 1,
  not_allowed = 2,  // "connection not allowed by ruleset"
  network_unreachable = 3,
  host_unreachable = 4,
  connection_refused = 5,
  ttl_expired = 6,
  command_not_supported = 7,
  address_type_not_supported = 8,
};

/// RFC 1928's words for a reply code ("connection refused"); "unknown reply N" otherwise.
std::string reply_text(std::uint8_t code);

/// An address on the wire: DST in a request, BND in a reply.
struct address {
  enum class kind : std::uint8_t { ipv4 = 1, domain = 3, ipv6 = 4 };
  kind type = kind::ipv4;
  std::string host;  // dotted quad, IPv6 text (no brackets), or the name as sent
  std::uint16_t port = 0;
  /// host:port, [v6]:port for IPv6.
  std::string to_string() const;
};

enum class status : std::uint8_t { complete, incomplete, invalid };

struct parse_result {
  status state = status::incomplete;
  /// complete: the message's size in bytes; incomplete: the least number of bytes the
  /// message can have, given what has been read (read up to this many, then parse again).
  std::size_t size = 0;
  /// invalid: what is wrong, for a log; for a request, the reply code to answer with.
  const char* why = "";
  reply code = reply::general_failure;
};

using bytes = std::span<const std::uint8_t>;

// Client -> server.
struct greeting {
  std::vector<method> methods;  // as offered, unknown ones included
  bool offers(method m) const noexcept;
};
parse_result parse_greeting(bytes in, greeting& out);
std::vector<std::uint8_t> encode_greeting(bool offer_password);

struct credentials {
  std::string user, password;  // 1..255 bytes each
};
parse_result parse_credentials(bytes in, credentials& out);
/// Empty when a field is empty or longer than 255 bytes (RFC 1929's limits).
std::vector<std::uint8_t> encode_credentials(const credentials& c);

struct request {
  std::uint8_t cmd = 0;  // command; anything else is parsed so it can be refused with 7
  address dst;
};
/// A domain must be 1..255 bytes with no control characters, spaces or NULs: what a
/// resolver and a log will see. An invalid request's `code` is the reply to send.
parse_result parse_request(bytes in, request& out);
/// Empty when a domain name is empty or longer than 255 bytes.
std::vector<std::uint8_t> encode_request(command cmd, const address& dst);

// Server -> client.
parse_result parse_method_choice(bytes in, method& out);
std::vector<std::uint8_t> encode_method_choice(method m);
parse_result parse_auth_status(bytes in, bool& accepted);
std::vector<std::uint8_t> encode_auth_status(bool accepted);
parse_result parse_reply(bytes in, std::uint8_t& code, address& bound);
/// `bound` must be an IPv4 or IPv6 address (the server's side of its connection); any
/// other, or an unparsable one, is sent as 0.0.0.0:0.
std::vector<std::uint8_t> encode_reply(reply code, const address& bound);

}  // namespace sockit::codec::socks5
