// The life of a server subcommand (echo, chat serve, serve): start, print the readiness
// line, wait for SIGINT/SIGTERM, stop, print a summary of its counters.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "commands.hpp"
#include "output.hpp"

namespace sockit::cli {

/// One counter of the summary: `key` in JSON; `label` in text ("3 accepted"), or null to
/// leave it out of the text line.
struct stop_count {
  const char* key;
  std::uint64_t value;
  const char* label;
};

/// {"event":"stopped","signal":"SIGTERM",key:value...} on stdout, or
/// `stopped (SIGTERM): 3 accepted, 0 rejected, ...` on stderr.
void print_stopped(int signal, std::initializer_list<stop_count> counts, bool json);

/// Starts `server` (already bound, with stop signals blocked by block_stop_signals()),
/// prints `listening on`, serves until SIGINT/SIGTERM, stops it, and returns the signal.
template <class Server>
int serve_until_stop_signal(Server& server, bool json) {
  server.start();
  if constexpr (requires { server.web_url(); }) {
    print_listening(server.local_endpoint(), json, stdout, server.identity(), server.web_url());
  } else if constexpr (requires { server.identity(); }) {
    print_listening(server.local_endpoint(), json, stdout, server.identity());
  } else {
    print_listening(server.local_endpoint(), json);
  }
  int sig = wait_for_stop_signal();
  server.stop();
  return sig;
}

}  // namespace sockit::cli
