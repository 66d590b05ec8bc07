// The --exec accept loop: one poll(2) over the listener (while below the cap), each child's
// pidfd (it exited: reap it) and each child's connection (POLLHUP/POLLERR only: the peer
// reset or is gone both ways, so the child is ended, not left holding a dead socket), and a
// signalfd (stop: end every child). The peer's half-close is not an end: the child reads
// EOF and may still answer, as `printf cmd | sockit connect` expects.
#include "listen_exec.hpp"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <stdexcept>
#include <vector>

#include "commands.hpp"
#include "output.hpp"
#include "sockit/net/unique_fd.hpp"

namespace sockit::cli {
namespace {

struct running {
  service::exec_child child;
  net::socket sock;
  std::string peer;
};

std::string describe(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return "ended";
}

constexpr int end_grace_ms = 2000;

}  // namespace

int run_listen_exec(net::socket& listener, const listen_exec_options& o) {
  net::unique_fd signals(stop_signal_fd());
  if (!signals) throw std::runtime_error("signalfd: cannot watch SIGINT/SIGTERM");
  std::vector<running> live;
  std::size_t accepted = 0;
  int last_status = 0;
  for (;;) {
    const bool accepting = o.keep ? live.size() < o.max_children : accepted == 0;
    if (!accepting && live.empty()) break;
    std::vector<pollfd> fds;
    fds.push_back({signals.get(), POLLIN, 0});
    fds.push_back({accepting ? listener.native_handle() : -1, POLLIN, 0});
    for (auto& r : live) {
      fds.push_back({r.child.pidfd, POLLIN, 0});
      fds.push_back({r.sock.native_handle(), 0, 0});  // POLLHUP and POLLERR come anyway
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("poll: {}", std::strerror(errno)));
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info{};
      (void)!::read(signals.get(), &info, sizeof info);
      for (auto& r : live) {
        service::end_child(r.child, end_grace_ms);
        if (o.verbose) print_line(r.peer + ": ended (stopping)", stderr);
      }
      return 0;
    }
    // Children first: their slots are free before anyone new is taken.
    for (std::size_t i = live.size(); i-- > 0;) {
      const pollfd& child = fds[2 + 2 * i];
      const pollfd& conn = fds[3 + 2 * i];
      running& r = live[i];
      if (child.revents & POLLIN) {
        last_status = service::reap(r.child);
      } else if (conn.revents & (POLLHUP | POLLERR)) {
        last_status = service::end_child(r.child, end_grace_ms);
      } else {
        continue;
      }
      if (o.verbose) print_line(r.peer + ": " + describe(last_status), stderr);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if (fds[1].revents & POLLIN) {
      net::socket_address from;
      std::error_code ec;
      net::socket conn = listener.accept(&from, ec);
      if (ec) {
        print_line("sockit: accept: " + ec.message(), stderr);
        continue;
      }
      ++accepted;
      std::string peer = from.to_string();
      service::exec_child child =
          service::spawn_on_socket(conn.native_handle(), o.command, peer, ec);
      if (ec) {
        print_line("sockit: " + peer + ": cannot start the command: " + ec.message(), stderr);
        continue;
      }
      if (o.verbose) print_line(fmt::format("{}: started pid {}", peer, child.pid), stderr);
      live.push_back({child, std::move(conn), std::move(peer)});
    }
  }
  if (WIFEXITED(last_status)) return WEXITSTATUS(last_status);
  return 1;
}

}  // namespace sockit::cli
