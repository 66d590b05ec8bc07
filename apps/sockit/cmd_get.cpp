// sockit get NAME... ENDPOINT [-o DIR] [--resume]: downloads files and directories,
// verified by hash and renamed into place only after the check.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "output.hpp"
#include "sockit/service/transfer_client.hpp"
#include "tls_options.hpp"
#include "transfer_progress.hpp"

namespace sockit::cli {
namespace {

struct get_cli_options {
  std::vector<std::string> args;  // NAME... ENDPOINT
  std::string out = ".";
  std::string hash = "xxh3";
  bool resume = false, overwrite = false, preserve_mode = false, json = false;
  int timeout = 60;
  client_security security;
};

int run_get(const get_cli_options& o) {
  if (o.args.size() < 2) throw std::invalid_argument("need at least one NAME and an ENDPOINT");
  std::vector<std::string> names(o.args.begin(), o.args.end() - 1);
  auto endpoint = net::endpoint::parse(o.args.back());
  service::transfer_client_options opt;
  if (!service::parse_hash_name(o.hash, opt.hash)) {
    throw std::invalid_argument("--hash must be xxh3, sha256 or md5");
  }
  opt.resume = o.resume;
  opt.overwrite = o.overwrite;
  opt.preserve_mode = o.preserve_mode;
  opt.io_timeout_s = o.timeout;
  apply_client_security(o.security, opt, endpoint.to_string());
  transfer_printer printer("received", o.json);
  auto t0 = std::chrono::steady_clock::now();
  service::transfer_client client(opt);
  std::error_code ec;
  std::string why;
  client.connect(endpoint, ec, why);
  if (ec) throw std::runtime_error(escape_for_terminal(why));  // the server's words
  auto results = client.get(
      names, o.out, [&printer](const service::transfer_progress& p) { printer.progress(p); });
  return printer.finish(
      results, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace

void setup_get(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<get_cli_options>();
  auto* cmd = app.add_subcommand("get", "Download files and directories from a sockit serve");
  cmd->add_option("args", o->args, "NAME... then ENDPOINT")->required()->expected(2, -1);
  cmd->add_option("-o,--output", o->out, "Directory to write into")
      ->capture_default_str()
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--resume", o->resume,
                "Continue from a local partial file once the server confirms its prefix hash");
  cmd->add_option("--hash", o->hash, "xxh3 (default), sha256 or md5")->capture_default_str();
  cmd->add_flag("--overwrite", o->overwrite, "Replace existing local files");
  cmd->add_flag("--preserve-mode", o->preserve_mode,
                "Keep the server's exec bits on files (modes are always masked by the umask)");
  cmd->add_option("--timeout", o->timeout, "Seconds of peer silence before giving up")
      ->capture_default_str();
  add_client_security_options(cmd, o->security);
  cmd->add_flag("--json", o->json,
                "JSON lines: progress events (10/s at most), one per file, result");
  cmd->footer("Exit status: 0 when every file was received and verified, 1 otherwise.");
  cmd->callback([o, &exit_code] { exit_code = run_get(*o); });
}

}  // namespace sockit::cli
