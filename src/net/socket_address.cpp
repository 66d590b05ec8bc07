// socket_address conversions.
#include "sockit/net/socket_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace sockit::net {

socket_address::socket_address(const sockaddr* sa, socklen_t len) noexcept {
  if (len > sizeof(storage_)) len = sizeof(storage_);
  std::memcpy(&storage_, sa, len);
  len_ = len;
}

socket_address socket_address::from_unix(const endpoint& e) {
  if (!e.is_unix()) throw std::invalid_argument("socket_address::from_unix: not a unix endpoint");
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  const std::string& p = e.path();
  if (p.size() > endpoint::max_unix_path) throw std::length_error("Unix socket path too long");
  std::size_t offset = e.type() == endpoint::kind::unix_abstract ? 1 : 0;  // leading NUL
  std::memcpy(un.sun_path + offset, p.data(), p.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + offset + p.size() +
                                         (offset ? 0 : 1));
  return socket_address(reinterpret_cast<const sockaddr*>(&un), len);
}

std::uint16_t socket_address::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string socket_address::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
    return buf;
  }
  if (family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    return buf;
  }
  if (family() == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
    std::size_t n =
        len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
    if (n == 0) return {};  // unnamed (a client socket)
    if (un->sun_path[0] == '\0') {
      std::string abstract_name(1, '@');
      abstract_name.append(un->sun_path + 1, n - 1);
      return abstract_name;
    }
    return std::string(un->sun_path, strnlen(un->sun_path, n));
  }
  return {};
}

endpoint socket_address::to_endpoint(transport t) const {
  if (family() == AF_UNIX) {
    std::string h = host();
    if (!h.empty() && h.front() == '@') return endpoint::unix_socket(h.substr(1), true);
    return endpoint::unix_socket(h, false);
  }
  return endpoint::inet(host(), port(), t);
}

}  // namespace sockit::net
