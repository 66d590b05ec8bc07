// echo_server: the seeds' upper-casing echo server, for many clients at once, over TCP,
// UDP or Unix stream sockets, on a pool of event loops. It never prints: events go to a
// callback and counters to stats().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "sockit/net/endpoint.hpp"
#include "sockit/service/tls_identity.hpp"

namespace sockit::service {

// The defaults bound what one peer can hold: connections in all and per address, how long
// a silent one stays, and how many UDP replies a source address (perhaps spoofed: the victim
// of a reflection) gets.
struct echo_options {
  net::endpoint endpoint;
  bool udp = false;                   // datagrams: reply to each sender with its datagram
  bool upper = false;                 // upper-case ASCII letters like bytes.upper()
  unsigned threads = 0;               // event loops; 0 = one per hardware thread
  std::size_t max_conns = 1024;       // 0 = unlimited; over it, new ones are closed
  std::size_t max_conns_per_ip = 32;  // per peer address; 0 = unlimited
  std::chrono::milliseconds idle_timeout{300000};  // 0 = never
  std::size_t buffer_size = 64 * 1024;             // per connection; bounds its memory
  // UDP replies per source address (IPv6: per /64, see session::address_key): udp_burst
  // at once, then udp_rate a second; and udp_byte_burst bytes at once, then udp_byte_rate
  // a second (0 = bytes not limited; a datagram larger than udp_byte_burst is never
  // answered). udp_rate 0 turns every per-source limit off. The small burst is what ends a
  // loop between two echo servers made by one forged datagram: each answers the other only
  // until its bucket is empty (a loop slower than udp_rate never empties it, and is only
  // held to that rate). Sources are remembered in a table of at most udp_sources.
  double udp_rate = 1000;
  double udp_burst = 16;               // >= 1
  double udp_byte_rate = 1024 * 1024;  // 1 MiB/s
  double udp_byte_burst = 128 * 1024;  // >= 1; two of the largest datagrams
  std::size_t udp_sources = 4096;
  // TLS 1.3 for TCP and Unix clients (docs/SECURITY.md) with this certificate and key; an
  // empty cert_pem: plaintext. A client that has not finished its handshake within
  // handshake_timeout is closed; a plaintext client is told so in one line, then closed.
  tls_identity tls;
  std::chrono::milliseconds handshake_timeout{10000};
};

/// True for UDP source ports that must never get a reply: 0 (not a real sender) and every
/// other privileged port (below 1024), where the small services that answer any datagram
/// live (echo 7, daytime 13, qotd 17, chargen 19, time 37, and more): replying to them makes
/// two servers answer each other forever (CVE-1999-0103). FreeBSD inetd's built-in
/// services refuse the same ports. Clients send from ephemeral ports.
bool udp_loop_port(std::uint16_t port) noexcept;

struct echo_event {
  enum class type { accepted, closed, rejected, idle_timeout };
  type what;
  std::string peer;         // tcp://127.0.0.1:5555, unix: (unnamed client), ...
  std::uint64_t bytes = 0;  // for closed / idle_timeout
  std::string detail;       // reason for rejected; error message for closed
};

struct echo_stats {
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;  // over --max-conns or --max-conns-per-ip, or out of descriptors
  std::uint64_t active = 0;
  std::uint64_t idle_closed = 0;
  std::uint64_t bytes = 0;        // echoed bytes of connections that have ended
  std::uint64_t datagrams = 0;    // UDP datagrams echoed
  std::uint64_t udp_refused = 0;  // not answered: from a port below 1024 or our own port
  std::uint64_t udp_limited = 0;  // not answered: over their source's datagram or byte rate
};

class echo_server {
 public:
  /// Binds at once (throws std::system_error with a clear message when it cannot), so
  /// local_endpoint() is known before run(). SO_REUSEADDR on TCP; a stale Unix socket
  /// file left by a dead server is replaced, a live one is not.
  explicit echo_server(echo_options options);
  ~echo_server();
  echo_server(const echo_server&) = delete;
  echo_server& operator=(const echo_server&) = delete;

  /// The endpoint actually bound (the real port when 0 was asked for).
  net::endpoint local_endpoint() const;
  /// The TLS identity clients see ("SHA256:..."), or empty when plaintext.
  const std::string& identity() const;

  /// Called on an I/O thread for every connection event; must be thread-safe and quick.
  /// Set before start().
  void on_event(std::function<void(const echo_event&)> callback);

  /// Starts serving on background threads and returns.
  void start();
  /// Stops accepting, closes every client, and waits for the loops to finish.
  /// Safe to call from any thread other than the loops', and more than once.
  void stop();
  /// Blocks until stop() has completed.
  void wait();

  /// A snapshot of the counters. Safe to call from any thread.
  echo_stats stats() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sockit::service
