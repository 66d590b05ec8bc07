// address_filter: allow and deny lists of subnets for a server's peers (`serve --allow
// 192.168.1.0/24 --deny 192.168.1.7/32`), checked on the peer's address when it connects,
// before any TLS or protocol byte. No Asio.
#pragma once

#include <sys/socket.h>

#include <vector>

#include "sockit/net/subnet.hpp"

namespace sockit::net {

class address_filter {
 public:
  address_filter() = default;
  address_filter(std::vector<subnet> allow, std::vector<subnet> deny)
      : allow_(std::move(allow)), deny_(std::move(deny)) {}

  /// No lists: every peer is admitted.
  bool empty() const noexcept { return allow_.empty() && deny_.empty(); }
  const std::vector<subnet>& allow() const noexcept { return allow_; }
  const std::vector<subnet>& deny() const noexcept { return deny_; }

  /// A peer in a deny subnet is refused; otherwise, with allow subnets, only a peer in one
  /// of them is admitted. An IPv4-mapped IPv6 peer (a dual-stack listener) is matched as
  /// the IPv4 address it is. Unix-socket peers are not network peers: always admitted.
  /// Anything else (an unknown family, a short address) is refused.
  bool admits(const ip_address& a) const noexcept;
  bool admits(const sockaddr* sa, socklen_t len) const noexcept;

 private:
  std::vector<subnet> allow_, deny_;
};

}  // namespace sockit::net
