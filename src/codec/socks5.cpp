// socks5: RFC 1928 / RFC 1929 messages. Every parse checks lengths before reading a byte
// and returns "incomplete, at least N" until the whole message is there, so the readers
// (the blocking client, the coroutine server) are one loop: read up to N, parse again.
#include "sockit/codec/socks5.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace sockit::codec::socks5 {
namespace {

parse_result need(std::size_t n) { return {status::incomplete, n}; }
parse_result done(std::size_t n) { return {status::complete, n}; }
parse_result bad(const char* why, reply code = reply::general_failure) {
  return {status::invalid, 0, why, code};
}

// A name a resolver and a log can take as it is: printable ASCII without spaces.
bool plain_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

// ATYP and what follows it, from `at`; `fixed` bytes precede it in the message.
parse_result parse_address(bytes in, std::size_t at, address& out) {
  if (in.size() < at + 1) return need(at + 1);
  const std::uint8_t atyp = in[at];
  std::size_t host_len = 0, host_at = at + 1;
  switch (atyp) {
    case 1:
      host_len = 4;
      break;
    case 4:
      host_len = 16;
      break;
    case 3:
      if (in.size() < at + 2) return need(at + 2);
      host_len = in[at + 1];
      host_at = at + 2;
      if (host_len == 0) return bad("empty host name", reply::host_unreachable);
      break;
    default:
      return bad("unknown address type", reply::address_type_not_supported);
  }
  const std::size_t total = host_at + host_len + 2;
  if (in.size() < total) return need(total);
  const auto* h = in.data() + host_at;
  if (atyp == 3) {
    out.type = address::kind::domain;
    out.host.assign(reinterpret_cast<const char*>(h), host_len);
    if (!plain_name(out.host)) return bad("host name with control bytes", reply::host_unreachable);
  } else {
    std::array<char, INET6_ADDRSTRLEN> text{};
    const int family = atyp == 1 ? AF_INET : AF_INET6;
    ::inet_ntop(family, h, text.data(), text.size());
    out.type = atyp == 1 ? address::kind::ipv4 : address::kind::ipv6;
    out.host = text.data();
  }
  out.port = static_cast<std::uint16_t>(in[total - 2] << 8 | in[total - 1]);
  return done(total);
}

// ATYP, address and port; false for a domain name that does not fit in one length byte.
bool put_address(std::vector<std::uint8_t>& out, const address& a) {
  std::array<std::uint8_t, 16> raw{};
  if (a.type == address::kind::domain) {
    if (a.host.empty() || a.host.size() > 255) return false;
    out.push_back(3);
    out.push_back(static_cast<std::uint8_t>(a.host.size()));
    out.insert(out.end(), a.host.begin(), a.host.end());
  } else if (a.type == address::kind::ipv6 &&
             ::inet_pton(AF_INET6, a.host.c_str(), raw.data()) == 1) {
    out.push_back(4);
    out.insert(out.end(), raw.begin(), raw.end());
  } else {
    if (a.type != address::kind::ipv4 || ::inet_pton(AF_INET, a.host.c_str(), raw.data()) != 1)
      raw.fill(0);
    out.push_back(1);
    out.insert(out.end(), raw.begin(), raw.begin() + 4);
  }
  out.push_back(static_cast<std::uint8_t>(a.port >> 8));
  out.push_back(static_cast<std::uint8_t>(a.port & 0xff));
  return true;
}

}  // namespace

std::string reply_text(std::uint8_t code) {
  static constexpr const char* words[] = {"succeeded",
                                          "general SOCKS server failure",
                                          "connection not allowed by ruleset",
                                          "network unreachable",
                                          "host unreachable",
                                          "connection refused",
                                          "TTL expired",
                                          "command not supported",
                                          "address type not supported"};
  if (code < std::size(words)) return words[code];
  return "unknown reply " + std::to_string(code);
}

std::string address::to_string() const {
  // A name may hold colons too ("::1" sent as a name): bracket it so the port stays clear.
  const bool colons = host.find(':') != std::string::npos;
  const std::string h = type == kind::ipv6 || colons ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

bool greeting::offers(method m) const noexcept {
  return std::find(methods.begin(), methods.end(), m) != methods.end();
}

parse_result parse_greeting(bytes in, greeting& out) {
  if (in.size() < 2) return need(2);
  if (in[0] != version) return bad("not SOCKS version 5");
  const std::size_t total = 2 + std::size_t{in[1]};
  if (in[1] == 0) return bad("no authentication methods offered");
  if (in.size() < total) return need(total);
  out.methods.clear();
  for (std::size_t i = 2; i < total; ++i) out.methods.push_back(static_cast<method>(in[i]));
  return done(total);
}

std::vector<std::uint8_t> encode_greeting(bool offer_password) {
  if (offer_password) return {version, 2, 0x00, 0x02};
  return {version, 1, 0x00};
}

parse_result parse_credentials(bytes in, credentials& out) {
  if (in.size() < 2) return need(2);
  if (in[0] != auth_version) return bad("not user/password version 1");
  const std::size_t ulen = in[1];
  if (in.size() < 2 + ulen + 1) return need(2 + ulen + 1);
  const std::size_t plen = in[2 + ulen];
  const std::size_t total = 3 + ulen + plen;
  if (in.size() < total) return need(total);
  out.user.assign(reinterpret_cast<const char*>(in.data() + 2), ulen);
  out.password.assign(reinterpret_cast<const char*>(in.data() + 3 + ulen), plen);
  return done(total);
}

std::vector<std::uint8_t> encode_credentials(const credentials& c) {
  if (c.user.empty() || c.user.size() > 255 || c.password.empty() || c.password.size() > 255)
    return {};
  std::vector<std::uint8_t> out{auth_version, static_cast<std::uint8_t>(c.user.size())};
  out.insert(out.end(), c.user.begin(), c.user.end());
  out.push_back(static_cast<std::uint8_t>(c.password.size()));
  out.insert(out.end(), c.password.begin(), c.password.end());
  return out;
}

parse_result parse_request(bytes in, request& out) {
  if (in.size() < 3) return need(3);
  if (in[0] != version) return bad("not SOCKS version 5");
  out.cmd = in[1];
  return parse_address(in, 3, out.dst);
}

std::vector<std::uint8_t> encode_request(command cmd, const address& dst) {
  std::vector<std::uint8_t> out{version, static_cast<std::uint8_t>(cmd), 0};
  if (!put_address(out, dst)) return {};
  return out;
}

parse_result parse_method_choice(bytes in, method& out) {
  if (in.size() < 2) return need(2);
  if (in[0] != version) return bad("not SOCKS version 5");
  out = static_cast<method>(in[1]);
  return done(2);
}

std::vector<std::uint8_t> encode_method_choice(method m) {
  return {version, static_cast<std::uint8_t>(m)};
}

parse_result parse_auth_status(bytes in, bool& accepted) {
  if (in.size() < 2) return need(2);
  if (in[0] != auth_version) return bad("not user/password version 1");
  accepted = in[1] == 0;
  return done(2);
}

std::vector<std::uint8_t> encode_auth_status(bool accepted) {
  return {auth_version, static_cast<std::uint8_t>(accepted ? 0 : 1)};
}

parse_result parse_reply(bytes in, std::uint8_t& code, address& bound) {
  if (in.size() < 3) return need(3);
  if (in[0] != version) return bad("not SOCKS version 5");
  code = in[1];
  return parse_address(in, 3, bound);
}

std::vector<std::uint8_t> encode_reply(reply code, const address& bound) {
  std::vector<std::uint8_t> out{version, static_cast<std::uint8_t>(code), 0};
  address a = bound;
  if (a.type == address::kind::domain) a = address{};
  put_address(out, a);
  return out;
}

}  // namespace sockit::codec::socks5
