// stream_server: what every sockit stream service (echo, chat, serve) shares: the listening
// socket, an accept loop that spreads connections over an io_pool, caps them per peer address
// and sheds load when out of descriptors, a per-loop registry of live connections, and a
// start/stop/wait lifecycle.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/basic_stream_socket.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "sockit/net/endpoint.hpp"
#include "sockit/session/address_limits.hpp"
#include "sockit/session/io_pool.hpp"

namespace sockit::session {

/// A connection accepted by a stream_server: TCP or Unix, bound to one loop's io_context.
using stream_socket =
    asio::basic_stream_socket<asio::generic::stream_protocol, asio::io_context::executor_type>;

/// Why a connection was closed right after accept() instead of being served.
enum class refusal {
  full,                // hooks.admit() said no (--max-conns, --max-clients)
  out_of_descriptors,  // EMFILE/ENFILE/ENOBUFS/ENOMEM: accepted with a spare descriptor, closed
  per_address,         // its address already has hooks.max_per_address live connections
};

/// "tcp://127.0.0.1:5555", "unix:/path", or "unknown" when the peer is already gone.
std::string peer_name(const stream_socket& s);

/// Admitted and live connections against a cap (0 = none): what echo and serve plug into
/// hooks.admit. try_admit() runs on loop 0 only, release() on any loop.
class connection_count {
 public:
  explicit connection_count(std::size_t max) noexcept : max_(max) {}
  /// Counts one more connection unless the cap is reached.
  bool try_admit() noexcept {
    if (max_ != 0 && active_.load(std::memory_order_relaxed) >= max_) return false;
    active_.fetch_add(1, std::memory_order_relaxed);
    accepted_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  /// One admitted connection has ended.
  void release() noexcept { active_.fetch_sub(1, std::memory_order_relaxed); }
  std::uint64_t accepted() const noexcept { return accepted_.load(std::memory_order_relaxed); }
  std::uint64_t active() const noexcept { return active_.load(std::memory_order_relaxed); }

 private:
  std::size_t max_;
  std::atomic<std::uint64_t> accepted_{0}, active_{0};
};

class stream_server {
 public:
  /// What a service plugs in. Every hook runs on a loop thread; set them before start().
  struct hooks {
    /// Serves one connection on loop `loop`. The socket is registered on that loop while the
    /// coroutine runs, so stop() closes it; afterwards it is shut down and closed. An
    /// exception escaping it is caught (counted in exceptions()) and never ends the loop.
    std::function<asio::awaitable<void>(stream_socket&, unsigned loop)> serve;
    /// Instead of serve: takes ownership of the socket (the service tracks it and closes
    /// it from on_stop). For services whose connection outlives one coroutine. The slot is
    /// the connection's share of max_per_address: keep it as long as the socket is open.
    std::function<void(stream_socket, unsigned loop, address_slot slot)> adopt;
    /// Asked on loop 0 for each new connection; false refuses it with refusal::full. A
    /// service that says true counts the connection there and then, so the next call sees it
    /// (serve() then runs even if stop() came first, on an already closed socket, so that
    /// whatever admit counted is uncounted in one place).
    std::function<bool()> admit;
    /// Told of each refusal, on loop 0. `sock` is the accepted socket for refusal::full and
    /// refusal::per_address (a goodbye may be sent without blocking; it is closed
    /// afterwards) and null otherwise.
    std::function<void(stream_socket* sock, refusal why)> refused;
    /// Runs on every loop when stop() begins, before that loop's registered connections are
    /// closed and after the listener is closed.
    std::function<void(unsigned loop)> on_stop;
    /// Live connections one peer IP address may hold (0 = no cap), checked at accept before
    /// admit(): a client over it is refused with refusal::per_address. IPv4-mapped IPv6
    /// counts as the IPv4 address, other IPv6 addresses count per /64 (see address_key);
    /// Unix peers are not capped per address.
    std::size_t max_per_address = 0;
  };

  /// `threads` event loops (0 = one per hardware thread); nothing listens until listen().
  explicit stream_server(unsigned threads);
  ~stream_server();
  stream_server(const stream_server&) = delete;
  stream_server& operator=(const stream_server&) = delete;

  /// Binds and listens at once (throws std::system_error with a clear message), so
  /// local_endpoint() is known before start(). SO_REUSEADDR on TCP; a stale Unix socket
  /// file is replaced, a live one is not, and the file is removed again by stop().
  void listen(const net::endpoint& where);
  /// The endpoint actually bound (the real port when 0 was asked for).
  const net::endpoint& local_endpoint() const noexcept;
  /// AF_INET, AF_INET6 or AF_UNIX once listening.
  int family() const noexcept;

  io_pool& pool() noexcept;

  /// Starts the accept loop (if listening) and the loops' threads, and returns.
  void start(hooks h);
  /// Stops accepting, runs on_stop and closes every registered connection on each loop,
  /// then waits until the loops run out of work. Safe from any thread but the loops', and
  /// more than once; concurrent callers all return once it is done.
  void stop();
  /// Blocks until stop() has completed.
  void wait();

  /// Live connections counted for the peer address `key` (see address_key).
  std::size_t live_from(const std::string& key) const;
  /// Connections refused for lack of descriptors, and exceptions caught from serve().
  std::uint64_t shed() const noexcept;
  std::uint64_t exceptions() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sockit::session
