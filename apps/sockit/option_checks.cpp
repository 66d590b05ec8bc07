// The option checks and conversions that subcommands share (commands.hpp): validators with
// plain messages, and seconds from the command line as milliseconds.
#include <algorithm>
#include <cmath>
#include <exception>
#include <string>

#include "commands.hpp"

namespace sockit::cli {

namespace {
// A finite number spelled in full, or NaN when `v` is not one.
double finite_number(const std::string& v) {
  try {
    std::size_t used = 0;
    double x = std::stod(v, &used);
    if (used == v.size() && std::isfinite(x)) return x;
  } catch (const std::exception&) {
  }
  return std::nan("");
}
}  // namespace

CLI::Validator positive(std::string what) {
  return CLI::Validator(
      [what](std::string& v) { return finite_number(v) > 0 ? std::string() : "must be " + what; },
      "NUMBER>0");
}

CLI::Validator not_negative(std::string what) {
  return CLI::Validator(
      [what](std::string& v) { return finite_number(v) >= 0 ? std::string() : "must be " + what; },
      "NUMBER>=0");
}

void add_server_caps(CLI::App* cmd, unsigned& threads, std::size_t& max_conns,
                     std::size_t& max_conns_per_ip) {
  cmd->add_option("-t,--threads", threads, "Event loops (default: one per CPU)")
      ->check(CLI::Range(0u, 1024u));
  cmd->add_option("--max-conns", max_conns,
                  "Close new connections at once beyond this many (0 = no limit)")
      ->capture_default_str()
      ->check(not_negative("0 (no limit) or more"));
  cmd->add_option("--max-conns-per-ip", max_conns_per_ip,
                  "Close new connections of an address that already has N (0 = no limit)")
      ->capture_default_str()
      ->check(not_negative("0 (no limit) or more"));
}

std::chrono::milliseconds seconds_to_ms(double seconds) {
  constexpr double most = 100.0 * 365 * 24 * 3600 * 1000;
  const double ms = seconds * 1000;
  if (!(ms > 0)) return std::chrono::milliseconds(0);  // NaN too (validators reject it)
  return std::chrono::milliseconds(static_cast<long long>(std::min(ms, most)));
}

std::vector<net::subnet> parse_subnets(const std::vector<std::string>& texts) {
  std::vector<net::subnet> out;
  for (const auto& t : texts) {
    std::error_code ec;
    std::string why;
    out.push_back(net::subnet::parse(t, ec, why));
    if (ec) throw CLI::ValidationError("--allow/--deny " + t + ": " + why);
  }
  return out;
}

}  // namespace sockit::cli
