// sockit serve DIR [ENDPOINT]: the file server (native protocol and the seeds' classic
// uploads on one port). Events on stderr with -v, or as JSON lines with --json.
#include <fmt/format.h>

#include <csignal>
#include <memory>
#include <string>

#include "commands.hpp"
#include "output.hpp"
#include "serving.hpp"
#include "sockit/service/access_token.hpp"
#include "sockit/service/tls_identity.hpp"
#include "sockit/service/transfer_server.hpp"
#include "tls_options.hpp"

namespace sockit::cli {
namespace {

struct serve_cli_options {
  std::string dir;
  std::string endpoint = ":0";
  unsigned threads = 0;
  std::size_t max_conns = 256;
  std::size_t max_conns_per_ip = 32;
  std::string max_file_size;
  std::string max_disk;
  std::string min_free = "1G,5%";
  std::string min_rate = "1K";
  double rate_window = 60;
  double partial_ttl = 24 * 3600;
  bool allow_overwrite = false;
  bool discard = false;
  double header_timeout = 30, body_timeout = 30;
  bool json = false, verbose = false;
  // Security (docs/SECURITY.md): TLS and a token unless told otherwise.
  bool plain = false, open_to_all = false;
  bool read_only = false, upload_only = false;
  std::vector<std::string> allow, deny;  // subnets
  server_tls cert;
  std::string token_file;
};

// TLS identity, token and protected mode from the options; says on stderr what a client
// needs (the token, once) and what is unprotected.
void secure(const serve_cli_options& o, service::transfer_server_options& opt) {
  check_server_cert_options(o.cert, !o.plain);
  if (!o.plain) opt.tls = server_identity(o.cert);
  if (!o.token_file.empty()) {
    opt.token = service::read_token_file(o.token_file);
  } else if (!o.plain) {
    opt.token = service::generate_token();
    print_line(
        "sockit serve: clients need this token (give it to them as SOCKIT_TOKEN or a "
        "--token-file, never on a command line):\ntoken " +
            opt.token,
        stderr);
  }
  if (o.plain && opt.token.empty()) {
    opt.local_only = !o.open_to_all;
    print_line(o.open_to_all
                   ? "sockit serve: warning: --plain --public without a token: anyone who can "
                     "reach this port can read and write DIR"
                   : "sockit serve: warning: --plain without a token: serving this machine "
                     "only (loopback, Unix sockets); --public allows others",
               stderr);
  } else if (o.plain) {
    print_line("sockit serve: warning: --plain: the token and files travel unencrypted", stderr);
  }
}

const char* event_name(service::transfer_event::type t) {
  using T = service::transfer_event::type;
  switch (t) {
    case T::accepted:
      return "accepted";
    case T::closed:
      return "closed";
    case T::rejected:
      return "rejected";
    case T::stored:
      return "stored";
    case T::sent:
      return "sent";
    case T::partial:
      return "partial";
    case T::failed:
      return "failed";
    case T::listed:
      return "listed";
    case T::expired:
      return "expired";
  }
  return "unknown";
}

// "10G", "512M", "4096" -> bytes.
std::uint64_t parse_size(const std::string& text) {
  if (text.empty()) return UINT64_MAX;
  std::size_t used = 0;
  double v = std::stod(text, &used);
  std::string unit = text.substr(used);
  double mult = 1;
  if (unit == "k" || unit == "K" || unit == "KiB")
    mult = 1024.0;
  else if (unit == "M" || unit == "MiB")
    mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TiB")
    mult = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty())
    throw std::invalid_argument("bad size '" + text + "' (use 4096, 10M, 2G)");
  if (v < 0) throw std::invalid_argument("size must not be negative");
  return static_cast<std::uint64_t>(v * mult);
}

// "1G,5%" (the smaller of both), "2G", "10%", "0" -> bytes and fraction of the filesystem.
void parse_min_free(const std::string& text, std::uint64_t& bytes, double& fraction) {
  bytes = UINT64_MAX;
  fraction = 1.0;
  bool any = false;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? comma : comma - start);
    if (part.empty()) throw std::invalid_argument("bad --min-free '" + text + "'");
    if (part.back() == '%') {
      std::size_t used = 0;
      double p = std::stod(part, &used);
      if (used + 1 != part.size() || p < 0 || p > 100)
        throw std::invalid_argument("bad --min-free percentage '" + part + "' (0-100%)");
      fraction = std::min(fraction, p / 100);
    } else {
      bytes = std::min(bytes, parse_size(part));
    }
    any = true;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (!any) throw std::invalid_argument("bad --min-free '" + text + "'");
  if (bytes == 0) fraction = 0;
}

std::chrono::milliseconds ms(double seconds) {
  if (seconds < 0) throw std::invalid_argument("timeouts must not be negative");
  return seconds_to_ms(seconds);
}

int run_serve(const serve_cli_options& o) {
  service::transfer_server_options opt;
  opt.root = o.dir;
  opt.endpoint = net::endpoint::parse(o.endpoint);
  opt.threads = o.threads;
  opt.max_conns = o.max_conns;
  opt.max_conns_per_ip = o.max_conns_per_ip;
  // Sizes, rates and durations are usage errors when malformed: exit 2, as the parser's own.
  try {
    opt.max_file_size = parse_size(o.max_file_size);
    opt.allow_overwrite = o.allow_overwrite;
    opt.header_timeout = ms(o.header_timeout);
    opt.body_timeout = ms(o.body_timeout);
    opt.discard = o.discard;
    opt.max_disk = parse_size(o.max_disk);
    parse_min_free(o.min_free, opt.min_free_bytes, opt.min_free_fraction);
    opt.min_rate = o.min_rate == "0" ? 0 : parse_size(o.min_rate);
    opt.rate_window = ms(o.rate_window);
    opt.partial_ttl = ms(o.partial_ttl);
  } catch (const std::logic_error& e) {  // invalid_argument, out_of_range (std::stod)
    throw CLI::ValidationError(e.what());
  }
  secure(o, opt);
  opt.read_only = o.read_only;
  opt.upload_only = o.upload_only;
  opt.peers = net::address_filter(parse_subnets(o.allow), parse_subnets(o.deny));
  block_stop_signals();
  service::transfer_server server(opt);
  bool json = o.json, verbose = o.verbose;
  server.on_event([json, verbose](const service::transfer_event& e) {
    using T = service::transfer_event::type;
    bool important = e.what == T::stored || e.what == T::failed || e.what == T::partial ||
                     e.what == T::rejected || e.what == T::expired;
    if (json) {
      nlohmann::json j{{"event", event_name(e.what)}, {"peer", e.peer}};
      if (!e.name.empty()) j["name"] = e.name;
      if (e.bytes) j["bytes"] = e.bytes;
      if (!e.detail.empty()) j["detail"] = e.detail;
      print_json(j);
    } else if (verbose || important) {
      std::string line = fmt::format("{} {}", event_name(e.what), escape_for_terminal(e.peer));
      if (!e.name.empty()) line += " " + escape_for_terminal(e.name);
      if (e.bytes) line += fmt::format(" ({} bytes)", e.bytes);
      if (!e.detail.empty()) line += ": " + escape_for_terminal(e.detail);
      print_line(line, stderr);
    }
  });
  int sig = serve_until_stop_signal(server, o.json);
  auto s = server.stats();
  print_stopped(sig,
                {{"accepted", s.accepted, "accepted"},
                 {"rejected", s.rejected, "rejected"},
                 {"stored", s.stored, "stored"},
                 {"sent", s.sent, "sent"},
                 {"failed", s.failed, "failed"},
                 {"bytes_in", s.bytes_in, nullptr},
                 {"bytes_out", s.bytes_out, nullptr}},
                o.json);
  return 0;
}

}  // namespace

void setup_serve(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<serve_cli_options>();
  auto* cmd = app.add_subcommand(
      "serve", "File server: uploads, downloads, listings (sockit put/get/ls, the seeds' format)");
  cmd->add_option("dir", o->dir, "Directory to serve; every name stays inside it")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("endpoint", o->endpoint, "Where to listen (default :0, any free port)");
  add_server_caps(cmd, o->threads, o->max_conns, o->max_conns_per_ip);
  cmd->add_option("--max-file-size", o->max_file_size, "Largest upload, e.g. 10G (default: none)");
  cmd->add_option("--max-disk", o->max_disk,
                  "Total bytes this server may write into DIR while it runs, e.g. 500G "
                  "(default: none; --min-free still applies)");
  cmd->add_option("--min-free", o->min_free,
                  "Refuse uploads that would leave less free space: SIZE, PERCENT% or both "
                  "(the smaller applies); 0 = no floor")
      ->capture_default_str();
  cmd->add_option("--min-rate", o->min_rate,
                  "Slowest upload body accepted, bytes/s averaged over --rate-window "
                  "(0 = no floor)")
      ->capture_default_str();
  cmd->add_option("--rate-window", o->rate_window, "Seconds --min-rate is averaged over")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option(
         "--partial-ttl", o->partial_ttl,
         "Seconds after its last write that an unfinished upload's partial file is removed "
         "(0 = never)")
      ->capture_default_str();
  cmd->add_flag("--discard", o->discard,
                "Benchmark sink: receive and verify uploads, store nothing (like iperf3 -s)");
  cmd->add_flag("--allow-overwrite", o->allow_overwrite,
                "Let clients that ask (put --overwrite) replace existing files");
  cmd->add_option("--header-timeout", o->header_timeout,
                  "Seconds a client has to send each whole frame header")
      ->capture_default_str();
  cmd->add_option("--body-timeout", o->body_timeout,
                  "Seconds a body may stall before the client is dropped")
      ->capture_default_str();
  cmd->add_flag("--plain", o->plain,
                "No TLS (the seeds' programs, nc, the classic format); without --token-file "
                "only loopback and Unix-socket clients are served");
  auto* ro = cmd->add_flag("--read-only", o->read_only,
                           "Serve downloads and listings only: put and mkdir are refused");
  cmd->add_flag("--upload-only", o->upload_only,
                "A drop box: uploads only; ls, stat and get are refused")
      ->excludes(ro);
  cmd->add_option("--allow", o->allow,
                  "Serve only peers in this subnet (repeatable; e.g. 192.168.1.0/24); checked "
                  "before TLS; Unix-socket peers are not filtered")
      ->allow_extra_args(false);  // one subnet per --allow: DIR and ENDPOINT follow
  cmd->add_option("--deny", o->deny, "Refuse peers in this subnet (repeatable; wins over --allow)")
      ->allow_extra_args(false);
  cmd->add_flag("--public", o->open_to_all,
                "With --plain and no token: serve clients from other machines too");
  add_server_cert_options(cmd, o->cert);
  cmd->add_option("--token-file", o->token_file,
                  "Read the token clients must give from this file (default: a new random "
                  "one, printed once; never on the command line)");
  cmd->add_flag("--json", o->json, "One JSON object per line on stdout (events included)");
  cmd->add_flag("-v,--verbose", o->verbose, "Log every connection and transfer to stderr");
  cmd->footer(
      "Uploads are written to .NAME.sockit-part and renamed only after size and hash match.\n"
      "TLS 1.3 by default, with an identity generated on first use and kept in\n"
      "$XDG_CONFIG_HOME/sockit/identity.pem; clients pin it (SHA256:...).\n"
      "Prints `listening on ENDPOINT` once bound. SIGINT/SIGTERM: stop, print a summary.");
  cmd->callback([o, &exit_code] { exit_code = run_serve(*o); });
}

}  // namespace sockit::cli
