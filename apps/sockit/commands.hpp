// What the subcommands share: each cmd_*.cpp defines one setup_<name>() that adds its
// subcommand to the app, and commands.cpp lists them all, in --help order:
//
//   void setup_echo(CLI::App& app, int& exit_code);   // adds `sockit echo`
//
// When a subcommand runs it stores its exit status in `exit_code`. Adding a subcommand:
// write cmd_<name>.cpp with setup_<name>, declare it below, put it in commands.cpp's list
// and in apps/sockit/CMakeLists.txt. Also here: the `sockit demo` step type, option checks,
// and the stop-signal helpers.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "sockit/net/subnet.hpp"

namespace sockit::cli {

using setup_fn = void (*)(CLI::App& app, int& exit_code);

// The subcommands, one per cmd_*.cpp (setup_bench_chat and setup_bench_frames add
// `bench chat` and `bench frames` to `bench`, so they come after setup_bench).
void setup_echo(CLI::App& app, int& exit_code);
void setup_connect(CLI::App& app, int& exit_code);
void setup_listen(CLI::App& app, int& exit_code);
void setup_forward(CLI::App& app, int& exit_code);
void setup_host(CLI::App& app, int& exit_code);
void setup_resolve(CLI::App& app, int& exit_code);
void setup_reverse(CLI::App& app, int& exit_code);
void setup_addr(CLI::App& app, int& exit_code);
void setup_service(CLI::App& app, int& exit_code);
void setup_ipcalc(CLI::App& app, int& exit_code);
void setup_frag(CLI::App& app, int& exit_code);
void setup_probe(CLI::App& app, int& exit_code);
void setup_serve(CLI::App& app, int& exit_code);
void setup_cert(CLI::App& app, int& exit_code);
void setup_put(CLI::App& app, int& exit_code);
void setup_get(CLI::App& app, int& exit_code);
void setup_ls(CLI::App& app, int& exit_code);
void setup_chat(CLI::App& app, int& exit_code);
void setup_bench(CLI::App& app, int& exit_code);
void setup_bench_chat(CLI::App& app, int& exit_code);
void setup_bench_frames(CLI::App& app, int& exit_code);
void setup_demo(CLI::App& app, int& exit_code);

/// Adds every subcommand to `app`, in the order --help lists them (commands.cpp).
void add_commands(CLI::App& app, int& exit_code);

/// Option checks with plain messages (CLI11's own print the largest double as the range).
/// `what` completes "must be ...", e.g. "a positive number of seconds".
CLI::Validator positive(std::string what);
CLI::Validator not_negative(std::string what);

/// What every stream server's command line shares: -t/--threads (bounded, so that a typo
/// fails plainly rather than in thread creation, and "-1" is not 2^64-1), --max-conns and
/// --max-conns-per-ip (0 = no limit).
void add_server_caps(CLI::App* cmd, unsigned& threads, std::size_t& max_conns,
                     std::size_t& max_conns_per_ip);

/// --allow/--deny's subnets (serve, forward); CLI::ValidationError naming a bad one.
std::vector<net::subnet> parse_subnets(const std::vector<std::string>& texts);

/// Seconds from the command line as milliseconds. Values past a hundred years (1e300, say)
/// are a hundred years, which is forever here, rather than an overflow.
std::chrono::milliseconds seconds_to_ms(double seconds);

/// One step of `sockit demo`: what it shows in the tutorials' terms, and a function that
/// runs it for real and returns its result line (throws on failure).
struct demo_step {
  std::string title;
  std::string teaches;
  std::function<std::string()> run;
};

// The demo's steps, each defined beside the subcommand whose code it shows.
demo_step demo_tcp_echo();        // cmd_demo.cpp
demo_step demo_udp_echo();        // cmd_demo.cpp
demo_step demo_unix_echo();       // cmd_demo.cpp
demo_step demo_many_clients();    // cmd_demo.cpp
demo_step demo_addresses();       // netutil_demo.cpp
demo_step demo_chat();            // cmd_chat.cpp
demo_step demo_chat_web();        // chat_web_demo.cpp
demo_step demo_sticky_packets();  // cmd_transfer_demo.cpp
demo_step demo_frames();          // cmd_transfer_demo.cpp
demo_step demo_upload();          // cmd_transfer_demo.cpp
demo_step demo_secure_upload();   // cmd_transfer_demo.cpp

/// The steps of `sockit demo`, in the order it runs them (commands.cpp).
std::vector<demo_step> demo_steps();

/// Blocks SIGINT/SIGTERM in this thread (and the threads it starts later) so that
/// wait_for_stop_signal() can take them synchronously. Call before starting servers.
void block_stop_signals();
/// Waits for SIGINT or SIGTERM and returns its number.
int wait_for_stop_signal();
/// A signalfd for SIGINT/SIGTERM (blocked first), for a poll(2) loop; -1 on failure.
int stop_signal_fd();

}  // namespace sockit::cli
