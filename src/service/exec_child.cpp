// exec_child: fork/exec with the socket as stdin/stdout, and pidfds so that the listener's
// poll(2) loop learns of exits without SIGCHLD handlers.
#include "sockit/service/exec_child.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sockit::service {

exec_command exec_command::split(const std::string& line) {
  exec_command c;
  std::string word;
  for (char ch : line) {
    if (ch == ' ' || ch == '\t') {
      if (!word.empty()) c.argv.push_back(std::move(word));
      word.clear();
    } else {
      word += ch;
    }
  }
  if (!word.empty()) c.argv.push_back(std::move(word));
  return c;
}

exec_child spawn_on_socket(int socket_fd, const exec_command& cmd, const std::string& peer,
                           std::error_code& ec) {
  // Everything the child needs, built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> args =
      cmd.shell.empty() ? cmd.argv : std::vector<std::string>{"/bin/sh", "-c", cmd.shell};
  if (args.empty()) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return {};
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string env_peer = "SOCKIT_PEER=" + peer;
  std::string not_found = "sockit: cannot run " + args[0] + ": ";
  pid_t pid = ::fork();
  if (pid < 0) {
    ec = {errno, std::system_category()};
    return {};
  }
  if (pid == 0) {
    ::signal(SIGPIPE, SIG_DFL);  // a child writing to a peer that left ends, as under a shell
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the listener blocks SIGINT/SIGTERM
    // A process group of its own, so that ending it ends what it started too (the shell's
    // pipeline under --sh-exec), and a Ctrl-C reaches the listener, which ends it.
    ::setpgid(0, 0);
    if (::dup2(socket_fd, STDIN_FILENO) < 0 || ::dup2(socket_fd, STDOUT_FILENO) < 0) _exit(126);
    ::putenv(env_peer.data());
    ::execvp(argv[0], argv.data());
    int err = errno;
    (void)!::write(STDERR_FILENO, not_found.data(), not_found.size());
    const char* msg = ::strerror(err);
    (void)!::write(STDERR_FILENO, msg, ::strlen(msg));
    (void)!::write(STDERR_FILENO, "\n", 1);
    _exit(127);
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  ::setpgid(pid, pid);  // also here: whichever of the two runs first, the group exists
  if (pidfd < 0) {
    ec = {errno, std::system_category()};
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return {};
  }
  return {pid, pidfd};
}

int reap(exec_child& c) {
  int status = 0;
  while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (c.pidfd >= 0) ::close(c.pidfd);
  c = {};
  return status;
}

int end_child(exec_child& c, int grace_ms) {
  ::kill(-c.pid, SIGTERM);  // its whole group (see spawn_on_socket)
  pollfd p{c.pidfd, POLLIN, 0};
  if (::poll(&p, 1, grace_ms) == 0) ::kill(-c.pid, SIGKILL);
  return reap(c);
}

}  // namespace sockit::service
