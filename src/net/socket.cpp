// Blocking socket wrapper.
#include "sockit/net/socket.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "sockit/net/error.hpp"
#include "sockit/net/resolver.hpp"

namespace sockit::net {
namespace {

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

void set_why(std::string* why, const std::string& text) {
  if (why) *why = text;
}

std::string describe(const char* what, const socket_address& addr, const std::error_code& ec,
                     transport t) {
  return std::string(what) + " " + addr.to_string(t) + ": " + ec.message();
}

// A Unix socket file that nobody accepts on (its server died without unlinking it) blocks
// bind with EADDRINUSE. Remove it only when it is a socket and a connect is refused, so a
// live server's socket, or any other kind of file, is never touched.
bool remove_stale_unix_socket(const std::string& path, const socket_address& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  int rc;
  do {
    rc = ::connect(probe, addr.data(), addr.size());
  } while (rc != 0 && errno == EINTR);
  bool stale = rc != 0 && errno == ECONNREFUSED;
  ::close(probe);
  return stale && ::unlink(path.c_str()) == 0;
}

}  // namespace

socket& socket::operator=(socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.release();
  }
  return *this;
}

void socket::close() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

socket socket::connect(const endpoint& e, std::error_code& ec, std::string* why) {
  auto addrs = resolve(e, resolve_mode::connect, ec, why);
  if (ec) return {};
  int type = e.proto() == transport::udp && !e.is_unix() ? SOCK_DGRAM : SOCK_STREAM;
  for (const auto& addr : addrs) {
    socket s(::socket(addr.family(), type | SOCK_CLOEXEC, 0));
    if (!s.is_open()) {
      ec = last_error();
      set_why(why, "socket(): " + ec.message());
      continue;
    }
    int rc;
    do {
      rc = ::connect(s.fd_, addr.data(), addr.size());
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) {
      if (type == SOCK_STREAM && addr.family() != AF_UNIX) {
        int one = 1;
        ::setsockopt(s.fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      ec.clear();
      return s;
    }
    ec = last_error();
    set_why(why, describe("cannot connect to", addr, ec, e.proto()));
  }
  return {};
}

socket socket::listen(const endpoint& e, std::error_code& ec, std::string* why, int backlog) {
  auto addrs = resolve(e, resolve_mode::listen, ec, why);
  if (ec) return {};
  for (const auto& addr : addrs) {
    socket s(::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s.is_open()) {
      ec = last_error();
      set_why(why, "socket(): " + ec.message());
      continue;
    }
    int one = 1, zero = 0;
    if (addr.family() != AF_UNIX) {
      // The seeds' setsockopt(SOL_SOCKET, SO_REUSEADDR, 1): restart without "address in use"
      // while old connections sit in TIME_WAIT.
      ::setsockopt(s.fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (addr.family() == AF_INET6 && e.host().empty())
        ::setsockopt(s.fd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
    int rc = ::bind(s.fd_, addr.data(), addr.size());
    if (rc != 0 && errno == EADDRINUSE && e.type() == endpoint::kind::unix_path &&
        remove_stale_unix_socket(e.path(), addr)) {
      rc = ::bind(s.fd_, addr.data(), addr.size());
    }
    if (rc != 0) {
      ec = last_error();
      set_why(why, describe("cannot bind", addr, ec, e.proto()));
      continue;
    }
    if (::listen(s.fd_, backlog) != 0) {
      ec = last_error();
      set_why(why, describe("cannot listen on", addr, ec, e.proto()));
      continue;
    }
    ec.clear();
    return s;
  }
  return {};
}

socket socket::bind_datagram(const endpoint& e, std::error_code& ec, std::string* why) {
  auto addrs = resolve(e.with_transport(transport::udp), resolve_mode::listen, ec, why);
  if (ec) return {};
  for (const auto& addr : addrs) {
    socket s(::socket(addr.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s.is_open()) {
      ec = last_error();
      continue;
    }
    int one = 1, zero = 0;
    if (addr.family() != AF_UNIX) {
      ::setsockopt(s.fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (addr.family() == AF_INET6 && e.host().empty())
        ::setsockopt(s.fd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
    if (::bind(s.fd_, addr.data(), addr.size()) != 0) {
      ec = last_error();
      set_why(why, describe("cannot bind", addr, ec, transport::udp));
      continue;
    }
    ec.clear();
    return s;
  }
  return {};
}

socket socket::accept(socket_address* peer, std::error_code& ec) noexcept {
  socket_address addr;
  socklen_t len = socket_address::capacity();
  int fd;
  do {
    fd = ::accept4(fd_, addr.data(), &len, SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    ec = last_error();
    return {};
  }
  addr.resize(len);
  if (peer) *peer = addr;
  if (addr.family() == AF_INET || addr.family() == AF_INET6) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ec.clear();
  return socket(fd);
}

std::size_t socket::send(std::span<const std::byte> data, std::error_code& ec) noexcept {
  ssize_t n;
  do {
    n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    ec = last_error();
    return 0;
  }
  ec.clear();
  return static_cast<std::size_t>(n);
}

void socket::send_all(std::span<const std::byte> data, std::error_code& ec) noexcept {
  net::send_all(fd_, {reinterpret_cast<const char*>(data.data()), data.size()}, ec);
}

void send_all(int fd, std::string_view data, std::error_code& ec) noexcept {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ec = errno == EAGAIN || errno == EWOULDBLOCK ? make_error_code(std::errc::timed_out)
                                                   : last_error();
      return;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  ec.clear();
}

std::size_t socket::recv(std::span<std::byte> buf, std::error_code& ec) noexcept {
  ssize_t n;
  do {
    n = ::recv(fd_, buf.data(), buf.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    ec = last_error();
    return 0;
  }
  ec.clear();
  return static_cast<std::size_t>(n);
}

std::size_t socket::send_to(std::span<const std::byte> data, const socket_address& to,
                            std::error_code& ec) noexcept {
  ssize_t n;
  do {
    n = ::sendto(fd_, data.data(), data.size(), MSG_NOSIGNAL, to.data(), to.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    ec = last_error();
    return 0;
  }
  ec.clear();
  return static_cast<std::size_t>(n);
}

std::size_t socket::recv_from(std::span<std::byte> buf, socket_address& from,
                              std::error_code& ec) noexcept {
  socklen_t len = socket_address::capacity();
  ssize_t n;
  do {
    n = ::recvfrom(fd_, buf.data(), buf.size(), 0, from.data(), &len);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    ec = last_error();
    return 0;
  }
  from.resize(len);
  ec.clear();
  return static_cast<std::size_t>(n);
}

void socket::connect_to(const socket_address& to, std::error_code& ec) noexcept {
  if (::connect(fd_, to.data(), to.size()) != 0) {
    ec = last_error();
    return;
  }
  ec.clear();
}

void socket::shutdown_write(std::error_code& ec) noexcept {
  if (::shutdown(fd_, SHUT_WR) != 0) {
    ec = last_error();
    return;
  }
  ec.clear();
}

void socket::set_non_blocking(bool on, std::error_code& ec) noexcept {
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) != 0) {
    ec = last_error();
    return;
  }
  ec.clear();
}

socket_address socket::local_address() const noexcept {
  socket_address a;
  socklen_t len = socket_address::capacity();
  if (::getsockname(fd_, a.data(), &len) == 0) a.resize(len);
  return a;
}

socket_address socket::peer_address() const noexcept {
  socket_address a;
  socklen_t len = socket_address::capacity();
  if (::getpeername(fd_, a.data(), &len) == 0) a.resize(len);
  return a;
}

}  // namespace sockit::net
