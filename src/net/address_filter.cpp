// address_filter: deny first, then allow, on the peer's address as the kernel reports it.
#include "sockit/net/address_filter.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace sockit::net {

bool address_filter::admits(const ip_address& a) const noexcept {
  ip_address plain = a;
  if (a.is_v6() && a.v6().is_v4_mapped()) plain = ip_address(a.v6().mapped_v4());
  auto in = [&plain](const subnet& s) { return s.contains(plain); };
  if (std::any_of(deny_.begin(), deny_.end(), in)) return false;
  return allow_.empty() || std::any_of(allow_.begin(), allow_.end(), in);
}

bool address_filter::admits(const sockaddr* sa, socklen_t len) const noexcept {
  if (sa == nullptr) return false;
  if (sa->sa_family == AF_UNIX) return true;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return admits(ip_address(ipv4_address(ntohl(in->sin_addr.s_addr))));
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    ipv6_address::bytes_type b;
    std::memcpy(b.data(), &in6->sin6_addr, b.size());
    return admits(ip_address(ipv6_address(b)));
  }
  return false;
}

}  // namespace sockit::net
