// Broadcast and multicast socket options.
#include "sockit/net/multicast.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "sockit/net/error.hpp"
#include "sockit/net/resolver.hpp"

namespace sockit::net {
namespace {

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

void set_why(std::string* why, const std::string& text) {
  if (why) *why = text;
}

int family_of(const socket& s) noexcept {
  int family = AF_UNSPEC;
  socklen_t len = sizeof family;
  if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_DOMAIN, &family, &len) != 0) return AF_UNSPEC;
  return family;
}

template <class T>
void set_option(socket& s, int level, int name, const T& value, std::error_code& ec) noexcept {
  if (::setsockopt(s.native_handle(), level, name, &value, sizeof value) != 0) {
    ec = last_error();
    return;
  }
  ec.clear();
}

const sockaddr_in6& as_v6(const socket_address& a) noexcept {
  return *reinterpret_cast<const sockaddr_in6*>(a.data());
}
const sockaddr_in& as_v4(const socket_address& a) noexcept {
  return *reinterpret_cast<const sockaddr_in*>(a.data());
}

// ff01::/16 and ff02::/16 (and their flagged forms, ff12::, ff32::...) exist once per link:
// the kernel cannot bind or join them without knowing which.
bool needs_interface(const socket_address& a) noexcept {
  const auto& addr = as_v6(a).sin6_addr;
  return IN6_IS_ADDR_MC_NODELOCAL(&addr) || IN6_IS_ADDR_MC_LINKLOCAL(&addr);
}

}  // namespace

unsigned interface_index(const std::string& name, std::error_code& ec, std::string* why) {
  unsigned index = name.size() < IF_NAMESIZE ? ::if_nametoindex(name.c_str()) : 0;
  if (index == 0) {
    ec = make_error_code(std::errc::no_such_device);
    set_why(why, "no network interface called '" + name + "'");
    return 0;
  }
  ec.clear();
  return index;
}

bool is_multicast(const socket_address& a) noexcept {
  if (a.family() == AF_INET) return IN_MULTICAST(ntohl(as_v4(a).sin_addr.s_addr));
  if (a.family() == AF_INET6) return IN6_IS_ADDR_MULTICAST(&as_v6(a).sin6_addr);
  return false;
}

void set_broadcast(socket& s, bool on, std::error_code& ec) noexcept {
  set_option(s, SOL_SOCKET, SO_BROADCAST, int{on ? 1 : 0}, ec);
}

void set_multicast_hops(socket& s, int hops, std::error_code& ec) noexcept {
  if (hops < 0 || hops > 255) {
    ec = make_error_code(std::errc::invalid_argument);
    return;
  }
  if (family_of(s) == AF_INET6)
    set_option(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, hops, ec);
  else
    set_option(s, IPPROTO_IP, IP_MULTICAST_TTL, hops, ec);
}

void set_multicast_interface(socket& s, unsigned index, std::error_code& ec) noexcept {
  if (family_of(s) == AF_INET6) {
    set_option(s, IPPROTO_IPV6, IPV6_MULTICAST_IF, index, ec);
    return;
  }
  ip_mreqn m{};
  m.imr_ifindex = static_cast<int>(index);
  set_option(s, IPPROTO_IP, IP_MULTICAST_IF, m, ec);
}

void set_unicast_interface(socket& s, unsigned index, std::error_code& ec) noexcept {
  // Both options take the index in network byte order (ip(7), ipv6(7)).
  const std::uint32_t value = htonl(index);
  if (family_of(s) == AF_INET6)
    set_option(s, IPPROTO_IPV6, IPV6_UNICAST_IF, value, ec);
  else
    set_option(s, IPPROTO_IP, IP_UNICAST_IF, value, ec);
}

void join_group(socket& s, const socket_address& group, unsigned index,
                std::error_code& ec) noexcept {
  if (group.family() == AF_INET6) {
    ipv6_mreq m{};
    m.ipv6mr_multiaddr = as_v6(group).sin6_addr;
    m.ipv6mr_interface = index;
    set_option(s, IPPROTO_IPV6, IPV6_JOIN_GROUP, m, ec);
  } else if (group.family() == AF_INET) {
    ip_mreqn m{};
    m.imr_multiaddr = as_v4(group).sin_addr;
    m.imr_ifindex = static_cast<int>(index);
    set_option(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, m, ec);
  } else {
    ec = make_error_code(errc::family_mismatch);
  }
}

socket listen_group(const endpoint& group, const std::string& iface, std::error_code& ec,
                    std::string* why) {
  if (group.is_unix() || group.host().empty()) {
    ec = make_error_code(errc::invalid_address);
    set_why(why, "a multicast listener needs the group's address: GROUP:PORT");
    return {};
  }
  auto addrs = resolve(group.with_transport(transport::udp), resolve_mode::listen, ec, why);
  if (ec) return {};
  socket_address addr = addrs.front();
  if (!is_multicast(addr)) {
    ec = make_error_code(errc::invalid_address);
    set_why(why, addr.host() + " is not a multicast group (224.0.0.0/4, ff00::/8)");
    return {};
  }
  unsigned index = 0;
  if (!iface.empty()) {
    index = interface_index(iface, ec, why);
    if (ec) return {};
  }
  const bool v6 = addr.family() == AF_INET6;
  if (v6) {
    auto& sin6 = *reinterpret_cast<sockaddr_in6*>(addr.data());
    if (index == 0) index = sin6.sin6_scope_id;  // from a zone: [ff02::1%eth0]
    if (index == 0 && needs_interface(addr)) {
      ec = make_error_code(std::errc::invalid_argument);
      set_why(why, "the link-scope group " + addr.host() + " needs its interface named");
      return {};
    }
    // Binding a link-scope address takes its link from the scope; harmless for the others.
    sin6.sin6_scope_id = index;
  }
  socket s(::socket(addr.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.is_open()) {
    ec = last_error();
    set_why(why, "socket(): " + ec.message());
    return {};
  }
  const int one = 1, zero = 0;
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Without this, a socket bound to a group hears that group on every link where any socket
  // of this machine joined it, not only where this one did.
  if (v6) {
    ::setsockopt(s.native_handle(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
#ifdef IPV6_MULTICAST_ALL
    ::setsockopt(s.native_handle(), IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof zero);
#endif
  } else {
    ::setsockopt(s.native_handle(), IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero);
  }
  // Bound to the group's address, not the wildcard: unicast datagrams to the port, and other
  // groups on the same port, are not this listener's.
  if (::bind(s.native_handle(), addr.data(), addr.size()) != 0) {
    ec = last_error();
    set_why(why, "cannot bind " + addr.to_string(transport::udp) + ": " + ec.message());
    return {};
  }
  join_group(s, addr, index, ec);
  if (ec) {
    std::string hint;
    if (ec == std::errc::no_such_device && index == 0)
      hint = " (no route to the group: name the interface)";
    set_why(why, "cannot join " + addr.host() + ": " + ec.message() + hint);
    return {};
  }
  return s;
}

socket open_datagram_sender(const endpoint& e, const datagram_sender_options& o, socket_address& to,
                            std::error_code& ec, std::string* why) {
  if (e.is_unix()) {
    ec = make_error_code(errc::invalid_endpoint);
    set_why(why, "broadcast and multicast are UDP over IP, not Unix sockets");
    return {};
  }
  auto addrs = resolve(e.with_transport(transport::udp), resolve_mode::connect, ec, why);
  if (ec) return {};
  to = addrs.front();
  const bool group = is_multicast(to);
  if (o.broadcast && to.family() == AF_INET6) {
    ec = make_error_code(errc::family_mismatch);
    set_why(why, "IPv6 has no broadcast: send to a multicast group such as [ff02::1]:PORT");
    return {};
  }
  socket s(::socket(to.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.is_open()) {
    ec = last_error();
    set_why(why, "socket(): " + ec.message());
    return {};
  }
  auto failed = [&](const char* what) {
    set_why(why, std::string(what) + ": " + ec.message());
    return socket{};
  };
  if (o.broadcast) {
    set_broadcast(s, true, ec);
    if (ec) return failed("SO_BROADCAST");
  }
  if (o.multicast_hops >= 0) {
    set_multicast_hops(s, o.multicast_hops, ec);
    if (ec) return failed("multicast hop limit");
  }
  if (!o.iface.empty()) {
    unsigned index = interface_index(o.iface, ec, why);
    if (ec) return {};
    if (group)
      set_multicast_interface(s, index, ec);
    else
      set_unicast_interface(s, index, ec);
    if (ec) return failed("outgoing interface");
  }
  ec.clear();
  return s;
}

}  // namespace sockit::net
