// The one list of sockit's subcommands and of `sockit demo`'s steps. The order here is the
// order of `sockit --help` and of the demo: to add a subcommand, declare its setup function
// in commands.hpp and put it in this list.
#include "commands.hpp"

namespace sockit::cli {

void add_commands(CLI::App& app, int& exit_code) {
  static constexpr setup_fn commands[] = {
      // servers and netcat-style tools
      setup_echo,
      setup_connect,
      setup_listen,
      setup_forward,
      // name and address utilities
      setup_host,
      setup_resolve,
      setup_reverse,
      setup_addr,
      setup_service,
      setup_ipcalc,
      setup_frag,
      setup_probe,
      // file transfer
      setup_serve,
      setup_put,
      setup_get,
      setup_ls,
      setup_cert,
      // chat
      setup_chat,
      // load generation: `bench` first, its chat and frames subcommands are added to it
      setup_bench,
      setup_bench_chat,
      setup_bench_frames,
      // the guided tour, last
      setup_demo,
  };
  for (setup_fn setup : commands) setup(app, exit_code);
}

std::vector<demo_step> demo_steps() {
  // The tutorials' order: echo over each transport, many clients, addresses, chat, then
  // framing and files.
  return {
      demo_tcp_echo(),        // cmd_demo.cpp
      demo_udp_echo(),        // cmd_demo.cpp
      demo_unix_echo(),       // cmd_demo.cpp
      demo_many_clients(),    // cmd_demo.cpp
      demo_addresses(),       // netutil_demo.cpp
      demo_chat(),            // cmd_chat.cpp
      demo_chat_web(),        // chat_web_demo.cpp
      demo_sticky_packets(),  // cmd_transfer_demo.cpp
      demo_frames(),          // cmd_transfer_demo.cpp
      demo_upload(),          // cmd_transfer_demo.cpp
      demo_secure_upload(),   // cmd_transfer_demo.cpp
  };
}

}  // namespace sockit::cli
