// http_connect: the two messages of an HTTP proxy tunnel (RFC 9110 §9.3.6, CONNECT): the
// request `connect --proxy-type http` sends, and the proxy's response head it reads before
// the tunnel's bytes start. No I/O, no Asio.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sockit::codec::http_connect {

/// A response head longer than this is refused (a proxy's answer is a few hundred bytes).
inline constexpr std::size_t max_head = 16 * 1024;

/// "CONNECT host:port HTTP/1.1" with its Host header, and Proxy-Authorization: Basic when
/// `user` is not empty. An IPv6 host is bracketed. Empty when host or credentials hold
/// CR, LF or NUL (they would end the header early: request splitting).
std::string encode_request(std::string_view host, unsigned port, std::string_view user = {},
                           std::string_view password = {});

/// Where the head in `in` ends (just past the blank line), or 0 when it has not ended yet.
/// Bare LFs are accepted as line ends, as HTTP clients do.
std::size_t head_end(std::string_view in) noexcept;

struct response {
  int status = 0;      // 100..999
  std::string reason;  // as sent (the caller escapes it before showing it)
};

/// Parses a complete head (up to head_end): "HTTP/1.x NNN reason". False, with `why`, for
/// anything else.
bool parse_response(std::string_view head, response& out, std::string& why);

}  // namespace sockit::codec::http_connect
