// sockit ls ENDPOINT [PATH]: lists what a sockit serve holds (names escaped for the terminal).
#include <fmt/format.h>

#include <memory>
#include <string>

#include "commands.hpp"
#include "output.hpp"
#include "sockit/service/transfer_client.hpp"
#include "tls_options.hpp"

namespace sockit::cli {
namespace {

struct ls_cli_options {
  std::string endpoint, path;
  bool recursive = false, json = false;
  client_security security;
};

int run_ls(const ls_cli_options& o) {
  service::transfer_client_options opt;
  apply_client_security(o.security, opt, o.endpoint);
  service::transfer_client client(opt);
  std::error_code ec;
  std::string why;
  client.connect(net::endpoint::parse(o.endpoint), ec, why);
  if (ec) throw std::runtime_error(escape_for_terminal(why));  // the server's words
  bool truncated = false;
  auto entries = client.ls(o.path, o.recursive, ec, why, &truncated);
  if (ec) {
    print_line("sockit: " + escape_for_terminal(why), stderr);
    return 1;
  }
  for (const auto& e : entries) {
    if (o.json) {
      print_json({{"name", e.name},
                  {"type", e.type},
                  {"size", e.size},
                  {"mode", e.mode},
                  {"mtime_ns", e.mtime_ns}});
    } else {
      print_line(fmt::format("{:<4} {:>12} {}{}", escape_for_terminal(e.type), e.size,
                             escape_for_terminal(e.name), e.type == "dir" ? "/" : ""));
    }
  }
  if (truncated) {  // like ls(1) on an unreadable subdirectory: what it could show, then 1
    print_line("sockit: the server cut this listing short at its limits (entries or depth)",
               stderr);
    return 1;
  }
  return 0;
}

}  // namespace

void setup_ls(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ls_cli_options>();
  auto* cmd = app.add_subcommand("ls", "List files on a sockit serve");
  cmd->add_option("endpoint", o->endpoint, "The server")->required();
  cmd->add_option("path", o->path, "Directory or file (default: the top)");
  cmd->add_flag("-r,--recursive", o->recursive, "Walk subdirectories");
  cmd->add_flag("--json", o->json, "One JSON object per entry");
  add_client_security_options(cmd, o->security);
  cmd->callback([o, &exit_code] { exit_code = run_ls(*o); });
}

}  // namespace sockit::cli
