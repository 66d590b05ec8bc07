// relay: a poll(2) loop with one bounded buffer per direction. The socket is non-blocking
// so a peer that stops reading never stops us from draining what it sends (no deadlock when
// piping a large file through an echo server).
#include "sockit/service/relay.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "sockit/net/terminal_text.hpp"

namespace sockit::service {
namespace {

std::error_code errno_code() { return {errno, std::system_category()}; }

bool write_all(int fd, const char* data, std::size_t n, std::error_code& ec) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {  // output is non-blocking (rare): wait for it
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, -1);
        continue;
      }
      ec = errno_code();
      return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

relay_result relay_stream(int in_fd, int out_fd, net::socket& sock, const relay_options& o) {
  relay_result r;
  std::vector<char> up(o.buffer_size), down(o.buffer_size);
  std::size_t up_begin = 0, up_end = 0;
  bool in_eof = false, shut = false;
  // The peer's EOF ends only what it sends us: the rest of our input still goes out (a
  // half-close, as nc does), unless a person types the input, who is done talking then.
  const bool interactive = ::isatty(in_fd) == 1;
  const int fd = sock.native_handle();
  for (;;) {
    if (in_eof && up_begin == up_end && !shut) {
      if (!o.half_close || r.peer_closed) return r;
      ::shutdown(fd, SHUT_WR);
      shut = true;
    }
    if (r.peer_closed && (shut || interactive)) return r;
    pollfd fds[2];
    nfds_t n = 0;
    int sock_index = static_cast<int>(n++);
    fds[sock_index] = {fd, static_cast<short>(r.peer_closed ? 0 : POLLIN), 0};
    if (up_begin != up_end) fds[sock_index].events |= POLLOUT;
    int in_index = -1;
    if (!in_eof && up_begin == up_end) {
      in_index = static_cast<int>(n++);
      fds[in_index] = {in_fd, POLLIN, 0};
    }
    int rc = ::poll(fds, n, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      r.error = errno_code();
      return r;
    }
    const short sev = fds[sock_index].revents;
    if (r.peer_closed && (sev & (POLLHUP | POLLERR)) && up_begin == up_end) {
      // Reset after its EOF: the peer is gone entirely, and our input cannot reach it.
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      r.error = std::error_code(err ? err : ECONNRESET, std::system_category());
      return r;
    }
    if (!r.peer_closed && (sev & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = ::recv(fd, down.data(), down.size(), MSG_DONTWAIT);
      if (got > 0) {
        if (o.on_bytes)
          o.on_bytes(false, r.received, std::as_bytes(std::span(down.data(), std::size_t(got))));
        if (!write_all(out_fd, down.data(), static_cast<std::size_t>(got), r.error)) return r;
        r.received += static_cast<std::size_t>(got);
      } else if (got == 0) {
        r.peer_closed = true;  // the seeds' `if not data: break`, for the receiving side
        continue;
      } else if (errno != EAGAIN && errno != EINTR) {
        r.error = errno_code();
        return r;
      }
    }
    if ((sev & POLLOUT) && up_begin != up_end) {
      ssize_t w = ::send(fd, up.data() + up_begin, up_end - up_begin, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        if (o.on_bytes)
          o.on_bytes(true, r.sent, std::as_bytes(std::span(up.data() + up_begin, std::size_t(w))));
        up_begin += static_cast<std::size_t>(w);
        r.sent += static_cast<std::size_t>(w);
        if (up_begin == up_end) up_begin = up_end = 0;
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        r.error = errno_code();
        return r;
      }
    }
    if (in_index >= 0 && (fds[in_index].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = ::read(in_fd, up.data(), up.size());
      if (got > 0) {
        up_begin = 0;
        up_end = static_cast<std::size_t>(got);
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        in_eof = true;  // a read error on input ends input, like EOF
      }
    }
  }
}

relay_result relay_datagram(int in_fd, int out_fd, net::socket& sock, const relay_options& o) {
  relay_result r;
  constexpr std::size_t max_datagram = 65536;
  std::vector<char> buf(max_datagram);
  bool in_eof = false;
  const int fd = sock.native_handle();
  const bool any_sender = o.destination.size() != 0;
  const bool escape = any_sender && ::isatty(out_fd) == 1;
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {in_fd, POLLIN, 0}};
    nfds_t n = in_eof ? 1 : 2;
    // poll() takes an int of milliseconds (about 24 days); a longer linger waits that long.
    int timeout = in_eof ? static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(
                               o.datagram_linger.count(), 0, std::numeric_limits<int>::max()))
                         : -1;
    int rc = ::poll(fds, n, timeout);
    if (rc < 0) {
      if (errno == EINTR) continue;
      r.error = errno_code();
      return r;
    }
    if (rc == 0) return r;  // input is done and the peer has gone quiet
    if (fds[0].revents & (POLLIN | POLLERR)) {
      net::socket_address from;
      socklen_t from_len = net::socket_address::capacity();
      ssize_t got = ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT, from.data(), &from_len);
      if (got >= 0) {
        const auto size = static_cast<std::size_t>(got);
        if (o.on_bytes) o.on_bytes(false, r.received, std::as_bytes(std::span(buf.data(), size)));
        if (any_sender) {
          from.resize(from_len);
          if (o.on_reply) o.on_reply(from, size);
          r.error = write_datagram(out_fd, std::as_bytes(std::span(buf.data(), size)), escape);
          if (r.error) return r;
        } else if (!write_all(out_fd, buf.data(), size, r.error)) {
          return r;
        }
        r.received += static_cast<std::size_t>(got);
        ++r.datagrams_received;
      } else if (errno != EAGAIN && errno != EINTR) {
        r.error = errno_code();  // e.g. ECONNREFUSED: nobody listens on that port
        return r;
      }
    }
    if (!in_eof && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = ::read(in_fd, buf.data(), 65507);  // largest IPv4 UDP payload
      if (got > 0) {
        ssize_t w = ::sendto(fd, buf.data(), static_cast<std::size_t>(got), MSG_NOSIGNAL,
                             any_sender ? o.destination.data() : nullptr, o.destination.size());
        if (w < 0) {
          r.error = errno_code();
          return r;
        }
        if (o.on_bytes)
          o.on_bytes(true, r.sent, std::as_bytes(std::span(buf.data(), std::size_t(got))));
        r.sent += static_cast<std::size_t>(got);
        ++r.datagrams_sent;
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        in_eof = true;
      }
    }
  }
}

}  // namespace

std::error_code write_datagram(int fd, std::span<const std::byte> data, bool escape) {
  std::error_code ec;
  std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
  if (!escape) {
    write_all(fd, text.data(), text.size(), ec);
    return ec;
  }
  std::string safe;
  for (;;) {
    const auto nl = text.find('\n');
    safe += net::escape_terminal_text(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    safe += '\n';
    text.remove_prefix(nl + 1);
  }
  write_all(fd, safe.data(), safe.size(), ec);
  return ec;
}

relay_result relay(int in_fd, int out_fd, net::socket& sock, const relay_options& options) {
  return options.datagram ? relay_datagram(in_fd, out_fd, sock, options)
                          : relay_stream(in_fd, out_fd, sock, options);
}

}  // namespace sockit::service
