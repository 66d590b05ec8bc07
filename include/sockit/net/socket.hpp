// socket: a blocking POSIX socket with RAII, the C++ shape of the seeds' Python sockets.
// Used by `sockit connect/listen` (with poll) and the examples; the servers use Asio.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "sockit/net/endpoint.hpp"
#include "sockit/net/socket_address.hpp"

namespace sockit::net {

class socket {
 public:
  socket() = default;
  explicit socket(int fd) noexcept : fd_(fd) {}
  socket(socket&& other) noexcept : fd_(other.release()) {}
  socket& operator=(socket&& other) noexcept;
  socket(const socket&) = delete;
  socket& operator=(const socket&) = delete;
  ~socket() { close(); }

  /// Connects to the first address of `e` that accepts (TCP, Unix stream, or a connected UDP
  /// socket when e.proto() is udp). `why` receives a one-line reason on failure.
  static socket connect(const endpoint& e, std::error_code& ec, std::string* why = nullptr);
  /// A listening stream socket with SO_REUSEADDR (the seeds' setsockopt) bound to `e`.
  /// An empty host listens on every interface, IPv6 and IPv4 both when possible.
  static socket listen(const endpoint& e, std::error_code& ec, std::string* why = nullptr,
                       int backlog = 1024);
  /// A UDP socket bound to `e` (SO_REUSEADDR), ready for recv_from/send_to.
  static socket bind_datagram(const endpoint& e, std::error_code& ec, std::string* why = nullptr);

  bool is_open() const noexcept { return fd_ >= 0; }
  int native_handle() const noexcept { return fd_; }
  int release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void close() noexcept;

  socket accept(socket_address* peer, std::error_code& ec) noexcept;
  /// Sends what it can (MSG_NOSIGNAL: a closed peer is an error, never SIGPIPE).
  std::size_t send(std::span<const std::byte> data, std::error_code& ec) noexcept;
  /// Sends everything or fails: net::send_all on this socket.
  void send_all(std::span<const std::byte> data, std::error_code& ec) noexcept;
  /// Returns 0 with no error when the peer has closed (the seeds' `if not data: break`).
  std::size_t recv(std::span<std::byte> buf, std::error_code& ec) noexcept;
  std::size_t send_to(std::span<const std::byte> data, const socket_address& to,
                      std::error_code& ec) noexcept;
  std::size_t recv_from(std::span<std::byte> buf, socket_address& from,
                        std::error_code& ec) noexcept;
  /// Connects a datagram socket to `to` so send/recv talk to that peer only.
  void connect_to(const socket_address& to, std::error_code& ec) noexcept;
  /// Half-close: the peer's recv returns 0, and we can still receive.
  void shutdown_write(std::error_code& ec) noexcept;
  void set_non_blocking(bool on, std::error_code& ec) noexcept;

  socket_address local_address() const noexcept;
  socket_address peer_address() const noexcept;

 private:
  int fd_ = -1;
};

/// Sends all of `data` on the blocking socket `fd`, or fails: the one blocking send loop
/// (MSG_NOSIGNAL, so a closed peer is an error and never SIGPIPE; EINTR retried). A send
/// timeout (SO_SNDTIMEO passed: EAGAIN on a blocking socket) gives std::errc::timed_out.
void send_all(int fd, std::string_view data, std::error_code& ec) noexcept;

/// std::span of the bytes of a string, for send().
inline std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace sockit::net
