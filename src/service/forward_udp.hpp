// forward_udp: `sockit forward udp://LISTEN udp://TARGET`, socat's `UDP-LISTEN:…,fork UDP:…`:
// a flow per client address, each with its own socket connected to the target (so the
// kernel sorts the target's replies by flow), ended after `udp_idle` without a datagram
// either way. Internal to service/: forward_server runs it when LISTEN is UDP.
#pragma once

#include <functional>
#include <memory>

#include "sockit/service/forward.hpp"

namespace sockit::service {

class udp_forward {
 public:
  /// Binds and resolves at once (std::system_error with a clear message on failure).
  explicit udp_forward(const forward_options& options);
  ~udp_forward();
  udp_forward(const udp_forward&) = delete;
  udp_forward& operator=(const udp_forward&) = delete;

  net::endpoint local_endpoint() const;
  void on_event(std::function<void(const forward_event&)> callback);
  void start();
  /// Closes the listener and every flow (each reported closed), then lets the loop end.
  void stop();
  void wait();
  forward_stats stats() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace sockit::service
