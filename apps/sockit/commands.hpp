// Subcommand and demo-step registry. Each cmd_*.cpp registers its subcommand with a
// file-scope `const command_registration` so main.cpp never needs editing to add one:
//
//   void setup_echo(CLI::App& app, int& exit_code);   // adds the subcommand
//   const command_registration echo_reg{10, setup_echo};
//
// `order` fixes the order in --help. When a subcommand runs it stores its exit status in
// `exit_code`.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace sockit::cli {

using setup_fn = void (*)(CLI::App& app, int& exit_code);

struct command_registration {
  command_registration(int order, setup_fn setup);
};

/// Every registered setup function, sorted by order.
std::vector<setup_fn> registered_commands();

/// Option checks with plain messages (CLI11's own print the largest double as the range).
/// `what` completes "must be ...", e.g. "a positive number of seconds".
CLI::Validator positive(std::string what);
CLI::Validator not_negative(std::string what);

/// Seconds from the command line as milliseconds. Values past a hundred years (1e300, say)
/// are a hundred years, which is forever here, rather than an overflow.
std::chrono::milliseconds seconds_to_ms(double seconds);

/// One step of `sockit demo`: what it shows in the tutorials' terms, and a function that
/// runs it for real and returns its result line (throws on failure).
struct demo_step {
  int order;
  std::string title;
  std::string teaches;
  std::function<std::string()> run;
};

struct demo_registration {
  explicit demo_registration(demo_step step);
};

/// Every registered demo step, sorted by order.
std::vector<demo_step> registered_demo_steps();

/// Blocks SIGINT/SIGTERM in this thread (and the threads it starts later) so that
/// wait_for_stop_signal() can take them synchronously. Call before starting servers.
void block_stop_signals();
/// Waits for SIGINT or SIGTERM and returns its number.
int wait_for_stop_signal();

}  // namespace sockit::cli
