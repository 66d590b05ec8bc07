// Thread-safe lookups: the *_r resolver functions with a buffer that grows on ERANGE, and
// getaddrinfo/getnameinfo (thread-safe by specification).
#include "sockit/net/lookup.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "sockit/net/error.hpp"
#include "text_util.hpp"

namespace sockit::net {
namespace {

constexpr std::size_t max_buffer = 1 << 20;

// Calls fn(buf, size) with a growing buffer while it reports ERANGE.
template <typename Fn>
int with_buffer(std::vector<char>& buf, Fn fn) {
  buf.resize(1024);
  while (true) {
    int rc = fn(buf.data(), buf.size());
    if (rc != ERANGE || buf.size() >= max_buffer) return rc;
    buf.resize(buf.size() * 4);
  }
}

std::vector<std::string> list_of(char** items) {
  std::vector<std::string> out;
  for (; items != nullptr && *items != nullptr; ++items) out.emplace_back(*items);
  return out;
}

std::optional<service_entry> from_servent(const servent* s) {
  if (s == nullptr) return std::nullopt;
  service_entry e;
  e.name = s->s_name;
  e.aliases = list_of(s->s_aliases);
  e.port = ntohs(static_cast<std::uint16_t>(s->s_port));
  e.protocol = s->s_proto ? s->s_proto : "";
  return e;
}

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

ip_address from_sockaddr(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return ipv4_address{ntohl(in->sin_addr.s_addr)};
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
  ipv6_address::bytes_type b{};
  std::memcpy(b.data(), &in6->sin6_addr, 16);
  return ipv6_address{b};
}

void add_unique(std::vector<std::string>& to, const std::vector<std::string>& from) {
  for (const auto& s : from) {
    if (std::find(to.begin(), to.end(), s) == to.end()) to.push_back(s);
  }
}

}  // namespace

std::optional<service_entry> service_by_name(std::string_view name, std::string_view protocol) {
  if (name.empty() || has_nul(name) || has_nul(protocol)) return std::nullopt;
  std::string n(name), p(protocol);
  servent entry{};
  servent* result = nullptr;
  std::vector<char> buf;
  int rc = with_buffer(buf, [&](char* b, std::size_t len) {
    return getservbyname_r(n.c_str(), p.empty() ? nullptr : p.c_str(), &entry, b, len, &result);
  });
  if (rc != 0) return std::nullopt;
  return from_servent(result);
}

std::optional<service_entry> service_by_port(std::uint16_t port, std::string_view protocol) {
  if (has_nul(protocol)) return std::nullopt;
  std::string p(protocol);
  servent entry{};
  servent* result = nullptr;
  std::vector<char> buf;
  int rc = with_buffer(buf, [&](char* b, std::size_t len) {
    return getservbyport_r(static_cast<int>(htons(port)), p.empty() ? nullptr : p.c_str(), &entry,
                           b, len, &result);
  });
  if (rc != 0) return std::nullopt;
  return from_servent(result);
}

const char* to_string(port_range r) noexcept {
  switch (r) {
    case port_range::well_known:
      return "well-known";
    case port_range::registered:
      return "registered";
    case port_range::dynamic:
      return "dynamic";
  }
  return "?";
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

std::string fully_qualified_name(const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_CANONNAME;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* raw = nullptr;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &raw) != 0) return name;
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(raw, &freeaddrinfo);
  return raw->ai_canonname ? std::string(raw->ai_canonname) : name;
}

host_lookup lookup_host(const std::string& name, address_family family, std::error_code& ec,
                        std::string* why, const std::string& service, bool udp) {
  host_lookup out;
  auto failure = [&](errc e, std::string text) {
    ec = make_error_code(e);
    if (why) *why = std::move(text);
    return host_lookup{};
  };
  if (name.empty()) return failure(errc::resolve_failed, "empty host name");
  if (has_nul(name) || has_nul(service)) {
    return failure(errc::resolve_failed, "the name contains a NUL byte");
  }
  addrinfo hints{};
  hints.ai_family = family == address_family::v4   ? AF_INET
                    : family == address_family::v6 ? AF_INET6
                                                   : AF_UNSPEC;
  hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
  hints.ai_flags = AI_CANONNAME;
  addrinfo* raw = nullptr;
  int rc = getaddrinfo(name.c_str(), service.empty() ? nullptr : service.c_str(), &hints, &raw);
  if (rc == EAI_SERVICE) {
    return failure(errc::unknown_service, "unknown service " + quote(service) + " for " +
                                              (udp ? "udp" : "tcp") + " (see /etc/services)");
  }
  if (rc != 0) {
    return failure(errc::resolve_failed,
                   "cannot resolve " + quote(name) + ": " +
                       (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(raw, &freeaddrinfo);
  for (addrinfo* ai = raw; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_canonname && out.canonical_name.empty()) out.canonical_name = ai->ai_canonname;
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    ip_address a = from_sockaddr(ai->ai_addr);
    if (std::find(out.addresses.begin(), out.addresses.end(), a) == out.addresses.end()) {
      out.addresses.push_back(a);
    }
    if (ai->ai_family == AF_INET) {
      out.port = ntohs(reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_port);
    } else {
      out.port = ntohs(reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_port);
    }
  }
  // getaddrinfo has no aliases; gethostbyname2_r (the reentrant gethostbyname_ex) does.
  for (int af : {AF_INET, AF_INET6}) {
    if ((af == AF_INET && family == address_family::v6) ||
        (af == AF_INET6 && family == address_family::v4)) {
      continue;
    }
    hostent entry{};
    hostent* result = nullptr;
    int h_err = 0;
    std::vector<char> buf;
    int r = with_buffer(buf, [&](char* b, std::size_t len) {
      return gethostbyname2_r(name.c_str(), af, &entry, b, len, &result, &h_err);
    });
    if (r == 0 && result != nullptr) add_unique(out.aliases, list_of(result->h_aliases));
  }
  ec.clear();
  return out;
}

reverse_lookup_result reverse_lookup(const ip_address& address, std::error_code& ec,
                                     std::string* why) {
  reverse_lookup_result out;
  out.pointer = address.reverse_pointer();
  sockaddr_storage ss{};
  socklen_t len = 0;
  std::uint8_t bytes[16];
  std::size_t n = address.to_bytes(bytes);
  if (address.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    std::memcpy(&in->sin_addr, bytes, n);
    len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    std::memcpy(&in6->sin6_addr, bytes, n);
    len = sizeof(sockaddr_in6);
  }
  // gethostbyaddr_r first: it gives the aliases too, and it is what Python's
  // socket.gethostbyaddr reports. getnameinfo covers NSS setups where only it answers.
  hostent entry{};
  hostent* result = nullptr;
  int h_err = 0;
  std::vector<char> buf;
  int r = with_buffer(buf, [&](char* b, std::size_t blen) {
    return gethostbyaddr_r(bytes, static_cast<socklen_t>(n), address.is_v4() ? AF_INET : AF_INET6,
                           &entry, b, blen, &result, &h_err);
  });
  if (r == 0 && result != nullptr && result->h_name != nullptr) {
    out.name = result->h_name;
    out.aliases = list_of(result->h_aliases);
    ec.clear();
    return out;
  }
  char host[NI_MAXHOST] = {};
  int rc = getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, nullptr, 0,
                       NI_NAMEREQD);
  if (rc != 0) {
    ec = make_error_code(rc == EAI_NONAME ? errc::name_not_found : errc::resolve_failed);
    if (why) {
      *why = rc == EAI_NONAME
                 ? "no name for " + address.to_string() + " (no PTR record for " + out.pointer +
                       " and no /etc/hosts entry)"
                 : "reverse lookup of " + address.to_string() +
                       " failed: " + (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
    }
    return out;
  }
  out.name = host;
  ec.clear();
  return out;
}

}  // namespace sockit::net
