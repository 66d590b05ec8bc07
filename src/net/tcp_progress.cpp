// The kernel's struct tcp_info, not glibc's: glibc's <netinet/tcp.h> stops before
// tcpi_bytes_acked. The two headers cannot meet in one translation unit (Asio includes
// glibc's), hence this file of its own.
#include "sockit/net/tcp_progress.hpp"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

namespace sockit::net {

std::optional<tcp_progress> tcp_progress_of(int fd) noexcept {
  struct tcp_info info {};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  if (len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked)
    return std::nullopt;
  bool has_window = len >= offsetof(struct tcp_info, tcpi_snd_wnd) + sizeof info.tcpi_snd_wnd;
  return tcp_progress{info.tcpi_bytes_acked, has_window ? info.tcpi_snd_wnd : 65536u};
}

}  // namespace sockit::net
