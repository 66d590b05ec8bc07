// sockit put PATH... ENDPOINT: uploads files and directories (pipelined on one connection),
// stdin with `-` and --name, --resume after verifying the server's partial prefix, and
// --classic for the seeds' tutorial servers.
#include <fmt/format.h>

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

struct put_cli_options {
  std::vector<std::string> args;  // PATH... ENDPOINT
  std::string name;
  std::string hash = "xxh3";
  bool resume = false, classic = false, overwrite = false, json = false;
  int timeout = 60;
  client_security security;
};

int run_put(const put_cli_options& o) {
  if (o.args.size() < 2) throw std::invalid_argument("need at least one PATH and an ENDPOINT");
  std::vector<std::string> paths(o.args.begin(), o.args.end() - 1);
  auto endpoint = net::endpoint::parse(o.args.back());
  service::transfer_client_options opt;
  if (!service::parse_hash_name(o.hash, opt.hash)) {
    throw std::invalid_argument("--hash must be xxh3, sha256 or md5");
  }
  opt.resume = o.resume;
  opt.overwrite = o.overwrite;
  opt.io_timeout_s = o.timeout;
  apply_client_security(o.security, opt, endpoint.to_string());
  transfer_printer printer("sent", o.json);
  auto progress = [&printer](const service::transfer_progress& p) { printer.progress(p); };
  auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  std::string why;
  std::vector<service::file_result> results;
  if (o.classic) {
    if (o.resume) throw std::invalid_argument("--resume needs the native protocol, not --classic");
    results = service::transfer_client::put_classic(endpoint, paths, progress, ec, why);
  } else {
    std::vector<std::string> skipped;
    auto items = service::plan_put(paths, o.name, skipped, ec, why);
    if (ec) throw std::runtime_error(escape_for_terminal(why));
    for (const auto& s : skipped) printer.note("skipped " + escape_for_terminal(s));
    service::transfer_client client(opt);
    client.connect(endpoint, ec, why);
    if (ec) throw std::runtime_error(escape_for_terminal(why));  // the server's words
    results = client.put(items, progress);
  }
  if (ec) throw std::runtime_error(escape_for_terminal(why));
  return printer.finish(
      results, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace

void setup_put(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<put_cli_options>();
  auto* cmd = app.add_subcommand("put", "Upload files and directories to a sockit serve");
  cmd->add_option("args", o->args, "PATH... then ENDPOINT (a PATH of - reads stdin; see --name)")
      ->required()
      ->expected(2, -1);
  cmd->add_option("--name", o->name, "Remote name for stdin (-)");
  cmd->add_flag("--resume", o->resume,
                "Continue a partial upload after checking the server's prefix hash");
  cmd->add_option("--hash", o->hash, "xxh3 (default), sha256 or md5")->capture_default_str();
  cmd->add_flag("--classic", o->classic,
                "The seeds' format: struct.pack('i', len(head)) + JSON head + bytes");
  cmd->add_flag("--overwrite", o->overwrite,
                "Ask to replace existing files (the server must run --allow-overwrite)");
  cmd->add_option("--timeout", o->timeout, "Seconds of peer silence before giving up")
      ->capture_default_str();
  cmd->add_flag("--json", o->json,
                "JSON lines: progress events (10/s at most), one per file, result");
  add_client_security_options(cmd, o->security);
  cmd->footer("Exit status: 0 when every file was stored and verified, 1 otherwise.");
  cmd->callback([o, &exit_code] { exit_code = run_put(*o); });
}

}  // namespace sockit::cli
