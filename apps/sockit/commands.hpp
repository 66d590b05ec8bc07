// One setup function per subcommand (each in its own cmd_*.cpp). A setup function adds its
// subcommand to `app`; when the subcommand runs, it stores its exit status in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace sockit::cli {

void setup_echo(CLI::App& app, int& exit_code);
void setup_connect(CLI::App& app, int& exit_code);
void setup_listen(CLI::App& app, int& exit_code);
void setup_bench(CLI::App& app, int& exit_code);
void setup_demo(CLI::App& app, int& exit_code);
// Address and network utilities (issue 3) register here too.

/// Blocks SIGINT/SIGTERM in this thread (and the threads it starts later) so that
/// wait_for_stop_signal() can take them synchronously. Call before starting servers.
void block_stop_signals();
/// Waits for SIGINT or SIGTERM and returns its number.
int wait_for_stop_signal();

}  // namespace sockit::cli
