// bench_echo: a load generator for echo servers (sockit's or anyone's). Every echoed byte
// is checked; latency goes into a histogram. Payloads use digits and capital letters only,
// so an upper-casing echo returns them unchanged.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "sockit/net/endpoint.hpp"
#include "sockit/service/latency_histogram.hpp"

namespace sockit::service {

struct bench_echo_options {
  net::endpoint endpoint;
  bool udp = false;
  unsigned connections = 1;
  std::chrono::milliseconds duration{5000};
  std::size_t size = 64;                    // bytes per message (per datagram for UDP)
  unsigned pipeline = 1;                    // messages in flight per connection
  unsigned threads = 1;                     // client event loops
  std::chrono::milliseconds timeout{1000};  // connect / UDP reply / stalled server
  // TLS 1.3 on every connection (echo --tls, ncat --ssl, openssl s_server): the handshake is
  // part of connecting, not of any round trip. The server's identity is not checked: a
  // load generator sends only its own test pattern.
  bool tls = false;
};

struct bench_echo_result {
  std::uint64_t round_trips = 0;  // messages sent and verified back
  std::uint64_t bytes = 0;        // payload bytes received back
  std::uint64_t errors = 0;       // failed connects, resets, early EOF, stalls
  std::uint64_t mismatches = 0;   // messages whose echo differed from what was sent
  std::uint64_t timeouts = 0;     // UDP datagrams with no reply in time
  unsigned connected = 0;         // connections that were established
  double seconds = 0;             // measured wall time
  latency_histogram latency;      // per message, send to last byte back, in ns

  double round_trips_per_second() const { return seconds > 0 ? round_trips / seconds : 0; }
  double megabytes_per_second() const { return seconds > 0 ? bytes / seconds / 1e6 : 0; }
};

/// Runs the load for options.duration and returns the totals. Blocks the caller.
/// Throws std::system_error when the endpoint cannot be resolved.
bench_echo_result run_bench_echo(const bench_echo_options& options);

}  // namespace sockit::service
