// stream_pump: one direction of a relay between two connected stream sockets (TCP or Unix)
// on the same loop: what `sockit forward` runs twice per connection. Zero-copy through a
// pipe with splice(2) where the kernel can (socket -> pipe -> socket, no copy to user
// space, as socat cannot and HAProxy does), through a buffer otherwise.
#pragma once

#include <asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <system_error>

#include "sockit/session/stream_server.hpp"

namespace sockit::session {

struct pump_result {
  std::uint64_t bytes = 0;  // moved from `from` to `to`
  std::error_code error;    // empty when `from` ended with EOF and all of it reached `to`
};

/// Copies `from` to `to` until EOF on `from`, then shuts down `to`'s sending side (the
/// half-close goes on: the other direction is not touched), or until an error on either
/// (returned; the caller closes both). Both sockets must be non-blocking. Holds at most one
/// pipe's worth (64 KiB) or `buffer_size` bytes in flight, so memory per direction is
/// bounded whatever the peers do. `zero_copy` false, or a pair the kernel cannot splice
/// (EINVAL at the first splice), uses the buffer.
asio::awaitable<pump_result> pump(stream_socket& from, stream_socket& to, bool zero_copy,
                                  std::size_t buffer_size = 64 * 1024);

/// Shown each chunk read from `from` (its offset in this direction, its bytes) before it is
/// written on: what `forward -x/-o` logs. Bytes must pass through user space for that, so a
/// tapped pump copies through its buffer, never splices.
using pump_tap = std::function<void(std::uint64_t offset, std::span<const std::byte> data)>;
asio::awaitable<pump_result> pump(stream_socket& from, stream_socket& to, const pump_tap& tap,
                                  std::size_t buffer_size = 64 * 1024);

}  // namespace sockit::session
