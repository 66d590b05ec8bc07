// forward_server: socat's `TCP-LISTEN:…,fork TCP:…` as a service: every accepted
// connection is relayed to a target, both ways, many at once, with the half-close passed on
// in each direction and the bytes spliced (session::stream_pump). TCP and Unix on either
// side. It never prints: events go to a callback and counters to stats().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "sockit/net/endpoint.hpp"

namespace sockit::service {

struct forward_options {
  net::endpoint listen;
  net::endpoint target;          // resolved when the server is made, tried in order per connection
  unsigned threads = 0;          // event loops; 0 = one per hardware thread
  std::size_t max_conns = 1024;  // relayed at once; 0 = unlimited
  std::size_t max_conns_per_ip = 32;                 // per client address; 0 = unlimited
  std::chrono::milliseconds connect_timeout{10000};  // per target address tried
  bool zero_copy = true;  // splice(2); false: through a buffer (to compare)
};

struct forward_event {
  enum class type {
    connected,      // peer -> target: the target accepted
    target_failed,  // the target refused or did not answer in time: detail says which
    closed,         // both directions done (or one failed: detail); bytes and seconds
    rejected,       // over --max-conns or --max-conns-per-ip, or out of descriptors
  };
  type what = type::connected;
  std::string peer;              // the client, tcp://127.0.0.1:5555 or unix:
  std::string target;            // the target address connected to (or tried last)
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

class forward_server {
 public:
  /// Binds at once and resolves the target (throws std::system_error with a clear message,
  /// std::invalid_argument for a UDP endpoint, which is not relayed yet).
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
  std::unique_ptr<impl> impl_;
};

}  // namespace sockit::service
