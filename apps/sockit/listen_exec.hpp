// `sockit listen --exec/--sh-exec`: the accept loop that gives each connection a child
// process (service/exec_child.hpp) instead of this terminal.
#pragma once

#include <cstddef>
#include <string>

#include "sockit/net/socket.hpp"
#include "sockit/service/exec_child.hpp"

namespace sockit::cli {

struct listen_exec_options {
  service::exec_command command;
  bool keep = false;              // -k: serve peers until stopped; else one, then exit
  std::size_t max_children = 16;  // with -k: beyond it, peers wait in the backlog
  bool verbose = false;
};

/// Accepts on `listener` until its peers are served (one, or every one until SIGINT/SIGTERM
/// with -k). Returns the exit status: the child's without -k, 0 when stopped.
int run_listen_exec(net::socket& listener, const listen_exec_options& o);

}  // namespace sockit::cli
