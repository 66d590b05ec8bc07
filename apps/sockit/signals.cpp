// Synchronous handling of SIGINT/SIGTERM: block them everywhere, take them with sigwait;
// and the summary a server subcommand prints once a signal stopped it.
#include <fmt/format.h>
#include <pthread.h>
#include <sys/signalfd.h>

#include <csignal>

#include "commands.hpp"
#include "serving.hpp"

namespace sockit::cli {
namespace {
sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}
}  // namespace

void block_stop_signals() {
  sigset_t set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_stop_signal() {
  sigset_t set = stop_set();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

int stop_signal_fd() {
  block_stop_signals();
  sigset_t set = stop_set();
  return ::signalfd(-1, &set, SFD_CLOEXEC);
}

void print_stopped(int signal, std::initializer_list<stop_count> counts, bool json) {
  const char* name = signal == SIGINT ? "SIGINT" : "SIGTERM";
  if (json) {
    nlohmann::json j{{"event", "stopped"}, {"signal", name}};
    for (const auto& c : counts) j[c.key] = c.value;
    print_json(j);
    return;
  }
  std::string line = fmt::format("stopped ({})", name);
  const char* sep = ": ";
  for (const auto& c : counts) {
    if (!c.label) continue;
    line += fmt::format("{}{} {}", sep, c.value, c.label);
    sep = ", ";
  }
  print_line(line, stderr);
}

}  // namespace sockit::cli
