// relay: netcat's core. Copies an input descriptor to a connected socket and the socket to
// an output descriptor, both at once, binary-safe, with bounded buffers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <system_error>

#include "sockit/net/socket.hpp"
#include "sockit/net/socket_address.hpp"

namespace sockit::service {

struct relay_options {
  bool datagram = false;  // each read of input is one datagram; each datagram received is output
  /// Stream: on input EOF, shut down our sending side (the peer's recv returns 0) and keep
  /// printing until the peer closes, like `nc -N`. When false, input EOF ends the relay.
  /// When the peer closes first, the rest of the input is still sent (nothing is lost) and
  /// the relay ends at input EOF; input from a terminal (a person chatting) ends it at once.
  bool half_close = true;
  /// Datagram: after input EOF, keep printing replies until none arrives for this long.
  std::chrono::milliseconds datagram_linger{1000};
  std::size_t buffer_size = 64 * 1024;
  /// Datagram: when set (size() != 0) the socket is unconnected, each datagram goes to this
  /// address and replies are taken from any sender: a broadcast or a multicast group is
  /// answered from the responders' own addresses, which a connected socket drops. Since
  /// anyone on the link may send then, output to a terminal goes through write_datagram's
  /// escaping.
  net::socket_address destination;
  /// Datagram with a destination: told each reply's sender and size before it is output.
  std::function<void(const net::socket_address& from, std::size_t size)> on_reply;
  /// When set, shown each chunk as it crosses (-x, -o): sent (input to the socket, once
  /// the socket took it) or received, its offset in that direction, and its bytes.
  std::function<void(bool sent, std::uint64_t offset, std::span<const std::byte> data)> on_bytes;
};

struct relay_result {
  std::uint64_t sent = 0;      // bytes from input to the socket
  std::uint64_t received = 0;  // bytes from the socket to output
  std::uint64_t datagrams_sent = 0, datagrams_received = 0;
  bool peer_closed = false;  // the peer ended the conversation (recv returned 0)
  std::error_code error;     // set on a real failure (reset, refused, output closed, ...)
};

/// Runs until the conversation is over (see relay_options). `in_fd` and `out_fd` may be
/// pipes, terminals, regular files or /dev/null. Blocks the calling thread; uses poll(2).
relay_result relay(int in_fd, int out_fd, net::socket& sock, const relay_options& options);

/// Writes one received datagram to `fd`: as it is, or with `escape` (for a terminal) line by
/// line through net::escape_terminal_text, the newlines kept, so that bytes from anyone on
/// the link cannot move the cursor or rewrite the screen.
std::error_code write_datagram(int fd, std::span<const std::byte> data, bool escape);

}  // namespace sockit::service
