// proxy_client: the handshake on a blocking socket, every read bounded by one deadline
// (poll). Reads never go past the proxy's answer: SOCKS5 messages say their own length
// (codec::socks5 asks for exactly the bytes still missing), and the HTTP head is peeked and
// only its own bytes taken, so whatever the target sends first (an SSH banner, an SMTP
// greeting) stays in the socket for the relay.
#include "sockit/service/proxy_client.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "sockit/codec/http_connect.hpp"
#include "sockit/codec/socks5.hpp"
#include "sockit/net/resolver.hpp"
#include "sockit/net/terminal_text.hpp"

namespace sockit::service {
namespace {

namespace socks5 = codec::socks5;
using clock = std::chrono::steady_clock;

// Waits for `fd` to be readable before `until`; false with ec = timed_out otherwise.
bool wait_readable(int fd, clock::time_point until, std::error_code& ec) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
    if (left.count() <= 0) {
      ec = std::make_error_code(std::errc::timed_out);
      return false;
    }
    pollfd p{fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) {
      ec = {errno, std::system_category()};
      return false;
    }
  }
}

// Reads until `buf` holds `want` bytes. A close before that is connection_aborted.
bool read_to(net::socket& s, std::vector<std::uint8_t>& buf, std::size_t want,
             clock::time_point until, std::error_code& ec) {
  while (buf.size() < want) {
    if (!wait_readable(s.native_handle(), until, ec)) return false;
    const std::size_t had = buf.size();
    buf.resize(want);
    const std::size_t n = s.recv(std::as_writable_bytes(std::span(buf).subspan(had)), ec);
    buf.resize(had + n);
    if (ec) return false;
    if (n == 0) {
      ec = std::make_error_code(std::errc::connection_aborted);
      return false;
    }
  }
  return true;
}

// "closed before its reply was complete" rather than errno's words for an abort.
std::string closed_or(const std::error_code& ec) {
  return ec == std::errc::connection_aborted ? "closed before its reply was complete"
                                             : ec.message();
}

// Reads one SOCKS5 message: parse, read what it still needs, parse again.
template <class Parse>
bool read_message(net::socket& s, clock::time_point until, std::error_code& ec, std::string& why,
                  Parse parse) {
  std::vector<std::uint8_t> buf;
  for (;;) {
    const socks5::parse_result r = parse(socks5::bytes(buf));
    if (r.state == socks5::status::complete) return true;
    if (r.state == socks5::status::invalid) {
      ec = std::make_error_code(std::errc::protocol_error);
      why = std::string("SOCKS5 proxy: ") + r.why;
      return false;
    }
    if (!read_to(s, buf, r.size, until, ec)) {
      why = "SOCKS5 proxy: " + closed_or(ec);
      return false;
    }
  }
}

bool send(net::socket& s, std::span<const std::uint8_t> data, std::error_code& ec, std::string& why,
          const char* who) {
  s.send_all(std::as_bytes(data), ec);
  if (ec) why = std::string(who) + ": " + ec.message();
  return !ec;
}

bool is_ip_literal(const std::string& host, socks5::address::kind& kind) {
  unsigned char raw[16];
  if (::inet_pton(AF_INET, host.c_str(), raw) == 1) {
    kind = socks5::address::kind::ipv4;
    return true;
  }
  if (::inet_pton(AF_INET6, host.c_str(), raw) == 1) {
    kind = socks5::address::kind::ipv6;
    return true;
  }
  return false;
}

// One SOCKS5 tunnel on a connected socket: method, credentials, CONNECT.
bool socks5_handshake(net::socket& s, const proxy_options& o, const socks5::address& dst,
                      std::error_code& ec, std::string& why) {
  const auto until = clock::now() + o.timeout;
  const bool password = !o.credentials.empty();
  if (!send(s, socks5::encode_greeting(password), ec, why, "SOCKS5 proxy")) return false;
  socks5::method chosen{};
  if (!read_message(s, until, ec, why,
                    [&](socks5::bytes b) { return socks5::parse_method_choice(b, chosen); }))
    return false;
  if (chosen == socks5::method::user_password && password) {
    const auto auth = socks5::encode_credentials({o.credentials.user, o.credentials.password});
    if (!send(s, auth, ec, why, "SOCKS5 proxy")) return false;
    bool accepted = false;
    if (!read_message(s, until, ec, why,
                      [&](socks5::bytes b) { return socks5::parse_auth_status(b, accepted); }))
      return false;
    if (!accepted) {
      ec = std::make_error_code(std::errc::permission_denied);
      why = "SOCKS5 proxy: user or password refused";
      return false;
    }
  } else if (chosen != socks5::method::none) {
    ec = std::make_error_code(std::errc::permission_denied);
    why = chosen == socks5::method::user_password
              ? "SOCKS5 proxy wants a user and password (SOCKIT_PROXY_AUTH or --proxy-auth-file)"
          : password ? "SOCKS5 proxy accepts none of our authentication methods"
                     : "SOCKS5 proxy refused a client without a user and password "
                       "(SOCKIT_PROXY_AUTH or --proxy-auth-file)";
    return false;
  }
  const auto request = socks5::encode_request(socks5::command::connect, dst);
  if (request.empty()) {
    ec = std::make_error_code(std::errc::invalid_argument);
    why = "SOCKS5: a host name must be 1 to 255 bytes";
    return false;
  }
  if (!send(s, request, ec, why, "SOCKS5 proxy")) return false;
  std::uint8_t code = 0;
  socks5::address bound;
  if (!read_message(s, until, ec, why,
                    [&](socks5::bytes b) { return socks5::parse_reply(b, code, bound); }))
    return false;
  if (code != 0) {
    ec = std::make_error_code(code == 5   ? std::errc::connection_refused
                              : code == 2 ? std::errc::permission_denied
                              : code == 3 ? std::errc::network_unreachable
                              : code == 4 ? std::errc::host_unreachable
                                          : std::errc::protocol_error);
    why = "SOCKS5 proxy: " + socks5::reply_text(code) + " (" + dst.to_string() + ")";
    return false;
  }
  return true;
}

bool http_handshake(net::socket& s, const proxy_options& o, const net::endpoint& target,
                    std::error_code& ec, std::string& why) {
  const auto until = clock::now() + o.timeout;
  const std::string request = codec::http_connect::encode_request(
      target.host(), target.port(), o.credentials.user, o.credentials.password);
  if (request.empty()) {
    ec = std::make_error_code(std::errc::invalid_argument);
    why = "HTTP proxy: a host name or credential holds a line break";
    return false;
  }
  net::send_all(s.native_handle(), request, ec);
  if (ec) {
    why = "HTTP proxy: " + ec.message();
    return false;
  }
  // Peek at what has arrived and take only the head's bytes: the head is done when a blank
  // line is in (what was taken before) + (what is peeked now).
  std::string head;
  std::vector<char> peek(4096);
  for (;;) {
    if (!wait_readable(s.native_handle(), until, ec)) {
      why = "HTTP proxy: " + ec.message();
      return false;
    }
    const ssize_t n = ::recv(s.native_handle(), peek.data(), peek.size(), MSG_PEEK);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ec = n == 0 ? std::make_error_code(std::errc::connection_aborted)
                  : std::error_code(errno, std::system_category());
      why = "HTTP proxy: " + std::string(n == 0 ? "closed before answering" : ec.message());
      return false;
    }
    // The blank line may straddle what was taken before and this peek: search it all.
    const std::size_t had = head.size();
    head.append(peek.data(), static_cast<std::size_t>(n));
    const std::size_t end = codec::http_connect::head_end(head);
    const std::size_t take = end != 0 ? end - had : static_cast<std::size_t>(n);
    head.resize(had + take);
    std::vector<std::byte> sink(take);
    std::size_t got = 0;
    while (got < take) {  // what was peeked is there: these recvs do not block
      const std::size_t r = s.recv(std::span(sink).subspan(got), ec);
      if (ec || r == 0) {
        if (!ec) ec = std::make_error_code(std::errc::connection_aborted);
        why = "HTTP proxy: " + ec.message();
        return false;
      }
      got += r;
    }
    if (head.size() > codec::http_connect::max_head) {
      ec = std::make_error_code(std::errc::protocol_error);
      why = "HTTP proxy: a response head over 16 KiB";
      return false;
    }
    if (end != 0) break;
  }
  codec::http_connect::response r;
  std::string bad;
  if (!codec::http_connect::parse_response(head, r, bad)) {
    ec = std::make_error_code(std::errc::protocol_error);
    why = "HTTP proxy: " + bad;
    return false;
  }
  if (r.status / 100 != 2) {
    ec = std::make_error_code(r.status == 407 || r.status == 403 ? std::errc::permission_denied
                                                                 : std::errc::connection_refused);
    why = "HTTP proxy: " + std::to_string(r.status) + " " + net::escape_terminal_text(r.reason);
    return false;
  }
  return true;
}

net::socket connect_proxy(const proxy_options& o, std::error_code& ec, std::string& why) {
  std::string reason;
  net::socket s = net::socket::connect(o.proxy, ec, &reason);
  if (ec) why = "proxy " + o.proxy.to_string() + ": " + (reason.empty() ? ec.message() : reason);
  return s;
}

std::string checked_field(std::string_view s, const char* what, const std::string& source) {
  if (s.empty() || s.size() > 255)
    throw std::runtime_error(source + ": the " + std::string(what) + " must be 1 to 255 bytes");
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      throw std::runtime_error(source + ": control characters in the " + std::string(what));
  }
  return std::string(s);
}

}  // namespace

proxy_credentials parse_proxy_credentials(std::string_view text, const std::string& source) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos)
    throw std::runtime_error(source + ": expected user:password");
  return {checked_field(text.substr(0, colon), "user", source),
          checked_field(text.substr(colon + 1), "password", source)};
}

proxy_credentials read_proxy_credentials(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read proxy credentials file " + path);
  std::string text(1025, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > 1024)
    throw std::runtime_error("proxy credentials file " + path + ": over 1 KiB");
  return parse_proxy_credentials(text.substr(0, text.find('\n')), "proxy credentials file " + path);
}

proxy_credentials proxy_credentials_from_environment() {
  const char* v = std::getenv("SOCKIT_PROXY_AUTH");
  if (v == nullptr || v[0] == '\0') return {};
  return parse_proxy_credentials(v, "SOCKIT_PROXY_AUTH");
}

net::socket connect_through_proxy(const proxy_options& o, const net::endpoint& target,
                                  std::error_code& ec, std::string& why) {
  ec.clear();
  if (o.kind == proxy_kind::http) {
    net::socket s = connect_proxy(o, ec, why);
    if (!ec && !http_handshake(s, o, target, ec, why)) s.close();
    return s;
  }
  std::vector<socks5::address> candidates;
  socks5::address named{socks5::address::kind::domain, target.host(), target.port()};
  if (is_ip_literal(target.host(), named.type) || o.remote_dns) {
    candidates.push_back(named);
  } else {
    std::string reason;
    for (const auto& a : net::resolve(target, net::resolve_mode::connect, ec, &reason)) {
      const auto kind =
          a.family() == AF_INET6 ? socks5::address::kind::ipv6 : socks5::address::kind::ipv4;
      candidates.push_back({kind, a.host(), target.port()});
    }
    if (ec) {
      why = reason.empty() ? ec.message() : reason;
      return {};
    }
  }
  // Each address the name resolved to gets its own tunnel attempt, as a direct connect
  // tries each in turn; a refusal by the proxy itself (its methods, the credentials) ends it.
  for (const auto& dst : candidates) {
    net::socket s = connect_proxy(o, ec, why);
    if (ec) return {};
    if (socks5_handshake(s, o, dst, ec, why)) return s;
    if (ec == std::errc::permission_denied || ec == std::errc::protocol_error) return {};
  }
  return {};
}

}  // namespace sockit::service
