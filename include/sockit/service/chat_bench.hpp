// chat_bench: a load generator for line-based chat rooms (sockit's, ncat --chat, any server
// that relays each line to the other clients). Measures deliveries per second, delivery
// latency from when a message was due to be sent to its receipt by each member, losses and
// per-sender ordering. Members are TCP (or TLS) clients, or WebSocket clients of a room's
// web endpoint (chat serve --web), so the two kinds can be compared against one server.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "sockit/net/endpoint.hpp"
#include "sockit/service/latency_histogram.hpp"

namespace sockit::service {

struct chat_bench_options {
  net::endpoint endpoint;
  unsigned clients = 100;                    // members in the room
  unsigned senders = 10;                     // of which this many send
  double rate = 10;                          // messages per second per sender
  std::chrono::milliseconds duration{5000};  // sending time
  std::chrono::milliseconds drain{3000};     // longest wait for late deliveries afterwards
  std::chrono::milliseconds setup{20000};    // longest wait for every client to be in the room
  std::size_t size = 64;                     // bytes per message line (at least the header)
  unsigned threads = 1;                      // client event loops
  bool tls = false;  // TLS 1.3 members (chat serve --tls); the identity is not checked
  // WebSocket members: `endpoint` is the room's web listener (chat serve --web); each
  // member upgrades `web_path` (no Origin header: not a browser), sends each line as one
  // masked text message and takes the lines out of the server's text messages. With
  // `tls`, WSS.
  bool web = false;
  std::string web_path = "/ws";
  // Called once, on the calling thread, when setup is over and sending is about to begin
  // (a driver script samples the server's CPU time there).
  std::function<void()> on_sending;
  // Called once, on the calling thread, when sending and the drain are over, before the
  // members leave (so a driver's CPU sample leaves out their goodbyes, which a room
  // announces to everyone left).
  std::function<void()> on_drained;
};

struct chat_bench_result {
  unsigned connected = 0;          // clients that connected
  unsigned ready = 0;              // clients that received their first line (were in the room)
  std::uint64_t sent = 0;          // messages sent
  std::uint64_t expected = 0;      // sent x (ready - 1): each message to every other member
  std::uint64_t delivered = 0;     // benchmark messages received
  std::uint64_t out_of_order = 0;  // received with a sequence number not above the last one
  std::uint64_t disconnected = 0;  // clients the server closed before the end
  double seconds = 0;              // first send to last delivery (at least the duration)
  double setup_seconds = 0;        // first connect until every member was in the room
  latency_histogram latency;       // per delivery, ns
  std::string error;  // why the first member that never got in failed (connect, TLS, upgrade)

  std::uint64_t lost() const { return expected > delivered ? expected - delivered : 0; }
  double deliveries_per_second() const { return seconds > 0 ? delivered / seconds : 0; }
};

/// Connects `clients` members, waits until each has heard from the server, then lets
/// `senders` of them send at `rate` for `duration`. Blocks the caller. Throws
/// std::system_error when the endpoint cannot be resolved, std::invalid_argument for bad
/// options.
chat_bench_result run_chat_bench(const chat_bench_options& options);

}  // namespace sockit::service
