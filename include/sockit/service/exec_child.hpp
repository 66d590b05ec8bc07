// exec_child: `sockit listen --exec/--sh-exec` (ncat -e / --sh-exec): a child process per
// connection whose stdin and stdout are the socket itself (no relay in between), its stderr
// ours, the peer's address in SOCKIT_PEER. It gives the peer the command: whatever it can do,
// the peer can make it do.
#pragma once

#include <sys/types.h>

#include <string>
#include <system_error>
#include <vector>

namespace sockit::service {

/// What to run. `argv` without a shell (`--exec "prog arg"`, split on spaces), or a shell
/// command for /bin/sh -c (`--sh-exec`).
struct exec_command {
  std::vector<std::string> argv;
  std::string shell;

  /// "prog a b" split on runs of spaces and tabs; no quoting (that is what --sh-exec is for).
  static exec_command split(const std::string& line);
  static exec_command sh(std::string command) { return {{}, std::move(command)}; }
};

/// A running child and a descriptor (a pidfd) that becomes readable when it exits.
struct exec_child {
  pid_t pid = -1;
  int pidfd = -1;
};

/// Forks and execs `cmd` with `socket_fd` as its stdin and stdout and SOCKIT_PEER=`peer`.
/// Every other descriptor of ours is closed in the child (they are close-on-exec). Fails
/// (returns pid -1 and sets `ec`) when fork or pidfd_open fails; a command that cannot be
/// executed exits with status 127 after a line on stderr, as a shell does.
exec_child spawn_on_socket(int socket_fd, const exec_command& cmd, const std::string& peer,
                           std::error_code& ec);

/// Reaps `c` (which must have exited: its pidfd is readable) and closes its pidfd. Returns
/// its wait status.
int reap(exec_child& c);

/// Ends `c` when its peer is gone: SIGTERM to its process group (its own, so what it
/// started goes too), then SIGKILL if it has not exited within `grace_ms`; then reaps it.
int end_child(exec_child& c, int grace_ms);

}  // namespace sockit::service
