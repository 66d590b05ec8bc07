// socket_address: a resolved sockaddr (IPv4, IPv6 or Unix) as a copyable value.
#pragma once

#include <sys/socket.h>

#include <string>

#include "sockit/net/endpoint.hpp"

namespace sockit::net {

class socket_address {
 public:
  socket_address() = default;
  socket_address(const sockaddr* sa, socklen_t len) noexcept;

  /// The Unix-socket address of `e` (which must be a unix endpoint).
  static socket_address from_unix(const endpoint& e);

  int family() const noexcept { return storage_.ss_family; }
  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return len_; }
  void resize(socklen_t len) noexcept { len_ = len; }
  static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }

  /// Numeric port for AF_INET/AF_INET6, 0 otherwise.
  std::uint16_t port() const noexcept;
  /// Numeric host ("127.0.0.1", "::1"), or the Unix path ("@name" when abstract).
  std::string host() const;
  /// As an endpoint with the given transport (tcp://127.0.0.1:80, unix:/p, unix:@n).
  endpoint to_endpoint(transport t = transport::tcp) const;
  std::string to_string(transport t = transport::tcp) const { return to_endpoint(t).to_string(); }

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

}  // namespace sockit::net
