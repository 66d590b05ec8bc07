// forward_server: socat's `TCP-LISTEN:…,fork TCP:…` as a service: every accepted
// connection is relayed to a target, both ways, many at once, with the half-close passed on
// in each direction and the bytes spliced (session::stream_pump). TCP and Unix on either
// side, or UDP to UDP (a flow per client address). With `socks5` it is a SOCKS5 server instead (RFC
// 1928, CONNECT only, RFC 1929 user and password when it has users): each client names its own
// target. It never prints: events go to a callback and counters to stats().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sockit/net/address_filter.hpp"
#include "sockit/net/endpoint.hpp"

namespace sockit::service {

struct forward_user {
  std::string name, password;
};

struct forward_options {
  net::endpoint listen;
  net::endpoint target;  // resolved when the server is made, tried in order; unused with socks5
  unsigned threads = 0;  // event loops; 0 = one per hardware thread
  std::size_t max_conns = 1024;                      // relayed at once; 0 = unlimited
  std::size_t max_conns_per_ip = 32;                 // per client address; 0 = unlimited
  std::chrono::milliseconds connect_timeout{10000};  // per target address tried
  /// UDP (udp://LISTEN to udp://TARGET): a flow per client address, ended after this long
  /// without a datagram either way; max_conns and max_conns_per_ip count flows.
  std::chrono::milliseconds udp_idle{60000};
  bool zero_copy = true;  // splice(2); false: through a buffer (to compare)
  /// Which clients are served, checked before anything is read. A SOCKS5 server with no
  /// allow list serves loopback and Unix clients only (less its deny list): an open proxy has to be
  /// asked for (allow 0.0.0.0/0 and ::/0).
  net::address_filter peers;
  bool socks5 = false;
  std::vector<forward_user> users;  // SOCKS5: when not empty, a client must prove one
  std::chrono::milliseconds handshake_timeout{10000};  // SOCKS5: greeting to request
  /// When set, shown every chunk relayed (-x, -o): the client's name, the direction (up:
  /// client -> target), the chunk's offset in it and its bytes. The bytes then go through
  /// a buffer, not splice(2). Called on the I/O threads: it must be thread-safe.
  std::function<void(const std::string& peer, bool up, std::uint64_t offset,
                     std::span<const std::byte> data)>
      on_bytes;
};

struct forward_event {
  enum class type {
    connected,      // peer -> target: the target accepted
    target_failed,  // the target refused or did not answer in time: detail says which
    closed,         // both directions done (or one failed: detail); bytes and seconds
    rejected,       // over --max-conns or --max-conns-per-ip, out of descriptors, not in
                    // the allowed subnets, or a SOCKS5 handshake refused: detail says which
  };
  type what = type::connected;
  std::string peer;              // the client, tcp://127.0.0.1:5555 or unix:
  std::string target;            // the target address connected to (or tried last)
  std::string requested;         // SOCKS5: the target as the client named it (host:port)
  std::uint64_t bytes_up = 0;    // client -> target
  std::uint64_t bytes_down = 0;  // target -> client
  double seconds = 0;            // from accept to close
  std::string detail;
};

struct forward_stats {
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  std::uint64_t target_failed = 0;
  std::uint64_t active = 0;
  std::uint64_t bytes_up = 0, bytes_down = 0;  // of connections that have ended
};

class udp_forward;

class forward_server {
 public:
  /// Binds at once and resolves the target unless socks5 (throws std::system_error with a
  /// clear message, std::invalid_argument for a UDP endpoint on one side only, or with
  /// socks5).
  explicit forward_server(forward_options options);
  ~forward_server();
  forward_server(const forward_server&) = delete;
  forward_server& operator=(const forward_server&) = delete;

  net::endpoint local_endpoint() const;
  /// Called on an I/O thread for every event; must be thread-safe and quick. Before start().
  void on_event(std::function<void(const forward_event&)> callback);
  void start();
  /// Stops accepting, closes every connection (client and target sides), waits.
  void stop();
  void wait();
  forward_stats stats() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;        // TCP and Unix streams, SOCKS5
  std::unique_ptr<udp_forward> udp_;  // UDP flows (src/service/forward_udp.cpp)
};

}  // namespace sockit::service
