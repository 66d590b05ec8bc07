// Endpoint parsing and formatting.
#include "sockit/net/endpoint.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>
#include <vector>

#include "sockit/net/error.hpp"

namespace sockit::net {
namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  return std::equal(prefix.begin(), prefix.end(), s.begin(),
                    [](char a, char b) { return (a | 0x20) == (b | 0x20); });
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

errc parse_port(std::string_view text, transport t, std::uint16_t& port, std::string& why) {
  if (text.empty()) {
    why = "missing port";
    return errc::invalid_port;
  }
  if (all_digits(text)) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size() || value > 65535) {
      why = "port '" + std::string(text) + "' is out of range 0-65535";
      return errc::invalid_port;
    }
    port = static_cast<std::uint16_t>(value);
    return errc::ok;
  }
  bool name_chars = std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '+' || c == '/';
  });
  bool has_letter = std::any_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  });
  if (!name_chars || !has_letter) {
    why = "port '" + std::string(text) + "' is neither a number nor a service name";
    return errc::invalid_port;
  }
  if (!lookup_service_port(text, t, port)) {
    why = "unknown service '" + std::string(text) + "' for " +
          (t == transport::udp ? "udp" : "tcp") + " (see /etc/services)";
    return errc::unknown_service;
  }
  return errc::ok;
}

bool valid_host(std::string_view host) {
  // Names and IPv4 literals: letters, digits, '-', '.', '_' (some local names use it).
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

errc parse_impl(std::string_view text, transport fallback, endpoint& out, std::string& why) {
  std::string_view rest = text;
  transport t = fallback;
  if (rest.empty()) {
    why = "empty endpoint";
    return errc::invalid_endpoint;
  }
  if (starts_with_ci(rest, "unix:")) {
    rest.remove_prefix(5);
    if (rest.starts_with("//")) rest.remove_prefix(2);  // unix:///path
    bool abstract = false;
    if (rest.starts_with('@')) {
      abstract = true;
      rest.remove_prefix(1);
    }
    if (rest.empty()) {
      why = abstract ? "empty abstract socket name after 'unix:@'" : "empty path after 'unix:'";
      return errc::invalid_endpoint;
    }
    if (rest.find('\0') != std::string_view::npos) {
      why = "Unix socket path contains a NUL byte";
      return errc::invalid_endpoint;
    }
    if (rest.size() > endpoint::max_unix_path) {
      why = "Unix socket path is " + std::to_string(rest.size()) + " bytes; the limit is " +
            std::to_string(endpoint::max_unix_path);
      return errc::path_too_long;
    }
    out = endpoint::unix_socket(std::string(rest), abstract);
    return errc::ok;
  }
  if (starts_with_ci(rest, "tcp://")) {
    t = transport::tcp;
    rest.remove_prefix(6);
  } else if (starts_with_ci(rest, "udp://")) {
    t = transport::udp;
    rest.remove_prefix(6);
  } else if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    why = "unknown scheme '" + std::string(rest.substr(0, scheme)) +
          "://' (use tcp://, udp:// or unix:)";
    return errc::invalid_endpoint;
  }
  if (rest.empty()) {
    why = "missing host and port";
    return errc::invalid_endpoint;
  }

  std::string host;
  std::string_view port_text;
  if (rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) {
      why = "missing ']' after IPv6 address";
      return errc::invalid_endpoint;
    }
    host = std::string(rest.substr(1, close - 1));
    std::array<unsigned char, 16> buf{};
    // Allow a zone index (fe80::1%eth0): check only the address part.
    std::string addr_only = host.substr(0, host.find('%'));
    if (host.empty() || inet_pton(AF_INET6, addr_only.c_str(), buf.data()) != 1) {
      why = "'" + host + "' is not an IPv6 address";
      return errc::invalid_address;
    }
    auto after = rest.substr(close + 1);
    if (after.empty()) {
      why = "missing port after '[" + host + "]' (write [" + host + "]:PORT)";
      return errc::invalid_port;
    }
    if (after.front() != ':') {
      why = "expected ':' after ']'";
      return errc::invalid_endpoint;
    }
    port_text = after.substr(1);
  } else if (all_digits(rest)) {
    port_text = rest;  // bare PORT: every interface
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
      why = "missing port in '" + std::string(rest) + "' (write HOST:PORT)";
      return errc::invalid_port;
    }
    if (rest.find(':') != colon) {
      why = "IPv6 addresses need brackets: [" + std::string(rest.substr(0, colon)) +
            "]:" + std::string(rest.substr(colon + 1));
      return errc::invalid_endpoint;
    }
    host = std::string(rest.substr(0, colon));
    port_text = rest.substr(colon + 1);
    if (!valid_host(host)) {
      why = "'" + host + "' is not a valid host name or address";
      return errc::invalid_address;
    }
  }
  std::uint16_t port = 0;
  if (auto e = parse_port(port_text, t, port, why); e != errc::ok) return e;
  out = endpoint::inet(std::move(host), port, t);
  return errc::ok;
}

}  // namespace

endpoint endpoint::inet(std::string host, std::uint16_t port, transport t) {
  endpoint e;
  e.kind_ = kind::inet;
  e.host_ = std::move(host);
  e.port_ = port;
  e.transport_ = t;
  return e;
}

endpoint endpoint::unix_socket(std::string path, bool abstract) {
  endpoint e;
  e.kind_ = abstract ? kind::unix_abstract : kind::unix_path;
  e.host_ = std::move(path);
  return e;
}

endpoint endpoint::parse(std::string_view text, transport fallback) {
  std::error_code ec;
  std::string why;
  endpoint e = parse(text, ec, why, fallback);
  if (ec) throw std::system_error(ec, "endpoint '" + std::string(text) + "': " + why);
  return e;
}

endpoint endpoint::parse(std::string_view text, std::error_code& ec, transport fallback) noexcept {
  try {
    std::string why;
    return parse(text, ec, why, fallback);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

endpoint endpoint::parse(std::string_view text, std::error_code& ec, std::string& why,
                         transport fallback) {
  endpoint out;
  errc e = parse_impl(text, fallback, out, why);
  if (e != errc::ok) {
    ec = make_error_code(e);
    return {};
  }
  ec.clear();
  return out;
}

endpoint endpoint::with_transport(transport t) const {
  endpoint e = *this;
  e.transport_ = t;
  return e;
}

endpoint endpoint::with_port(std::uint16_t port) const {
  endpoint e = *this;
  e.port_ = port;
  return e;
}

std::string endpoint::to_string() const {
  switch (kind_) {
    case kind::unix_path:
      // parse() reads "unix://" as a URL-style prefix and drops the "//", so a path that
      // starts with "//" is written after one to keep it (found by fuzz/endpoint_fuzzer).
      return (host_.starts_with("//") ? "unix://" : "unix:") + host_;
    case kind::unix_abstract:
      return "unix:@" + host_;
    case kind::inet:
      break;
  }
  std::string s = transport_ == transport::udp ? "udp://" : "tcp://";
  if (host_.find(':') != std::string::npos) {
    s += '[';
    s += host_;
    s += ']';
  } else {
    s += host_;
  }
  s += ':';
  s += std::to_string(port_);
  return s;
}

bool lookup_service_port(std::string_view name, transport t, std::uint16_t& port) {
  std::string n(name);
  servent entry{};
  servent* result = nullptr;
  std::vector<char> buf(4096);
  const char* proto = t == transport::udp ? "udp" : "tcp";
  if (getservbyname_r(n.c_str(), proto, &entry, buf.data(), buf.size(), &result) != 0 ||
      result == nullptr) {
    return false;
  }
  port = ntohs(static_cast<std::uint16_t>(result->s_port));
  return true;
}

}  // namespace sockit::net
