// tcp_progress: how far a TCP connection's peer has taken what was sent, by the kernel's own
// counts (TCP_INFO). The chat room tells a member that reads, however slowly, from one that
// has stopped by them: the peer's kernel acknowledges bytes only while its receive window
// has room, and the window moves on only as the peer's application reads. So a peer that
// has acknowledged a byte beyond the right edge of the window it had at time T (what it
// had acknowledged then plus its window then) has read since T.
#pragma once

#include <cstdint>
#include <optional>

namespace sockit::net {

struct tcp_progress {
  std::uint64_t acked = 0;   // bytes the peer acknowledged
  std::uint64_t window = 0;  // the peer's receive window as last advertised, in bytes
};

/// The counts of the TCP socket `fd`; nothing when `fd` is not TCP (a Unix socket) or the
/// kernel does not report them. Kernels before 5.4 report no window: 64 KiB is assumed.
std::optional<tcp_progress> tcp_progress_of(int fd) noexcept;

}  // namespace sockit::net
