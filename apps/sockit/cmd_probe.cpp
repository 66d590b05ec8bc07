// sockit probe: like `nc -z`: which ports of a host accept a connection (or, with --udp,
// answer or refuse a datagram); concurrent and bounded.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <stdexcept>

#include "commands.hpp"
#include "netutil_format.hpp"
#include "output.hpp"
#include "sockit/net/lookup.hpp"
#include "sockit/net/port_probe.hpp"

namespace sockit::cli {
namespace {

struct probe_cli_options {
  std::string host;
  std::string ports;
  double timeout = 1.0;
  unsigned concurrency = 64;
  bool udp = false;
  bool all = false;
  bool v4 = false, v6 = false;
  bool json = false;
};

int run_probe(const probe_cli_options& o) {
  if (o.timeout <= 0 || o.timeout > 3600) throw std::invalid_argument("--timeout must be 0-3600 s");
  if (o.concurrency == 0 || o.concurrency > 4096) {
    throw std::invalid_argument("--concurrency must be 1-4096");
  }
  const char* proto = o.udp ? "udp" : "tcp";
  std::error_code ec;
  std::string why;
  auto ports = net::parse_port_list(o.ports, proto, ec, &why);
  if (ec) throw std::invalid_argument(why);
  const auto family = o.v4   ? net::address_family::v4
                      : o.v6 ? net::address_family::v6
                             : net::address_family::any;
  auto found = net::lookup_host(o.host, family, ec, &why);
  if (ec) throw std::runtime_error(why);
  if (found.addresses.empty()) throw std::runtime_error("no address for '" + o.host + "'");
  const net::ip_address target = found.addresses.front();
  net::probe_options po;
  po.timeout = seconds_to_ms(o.timeout);
  po.concurrency = o.concurrency;
  po.udp = o.udp;
  const auto start = std::chrono::steady_clock::now();
  auto results = net::probe_ports(target, ports, po);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::size_t counts[5] = {};
  for (const auto& r : results) {
    ++counts[static_cast<int>(r.state)];
    auto svc = net::service_by_port(r.port, proto);
    const double ms = std::chrono::duration<double, std::milli>(r.elapsed).count();
    if (o.json) {
      nlohmann::json j{{"host", o.host},
                       {"address", target.to_string()},
                       {"port", r.port},
                       {"protocol", proto},
                       {"state", net::to_string(r.state)},
                       {"service", svc ? nlohmann::json(svc->name) : nullptr},
                       {"ms", std::round(ms * 1000) / 1000}};
      if (r.error) j["error"] = r.error.message();
      print_json(j);
      continue;
    }
    if (r.state != net::port_state::open && !o.all) continue;
    print_line(fmt::format("{} {}/{} {}{}{}", target.to_string(), r.port, proto,
                           net::to_string(r.state), svc ? " (" + svc->name + ")" : "",
                           r.error ? ": " + r.error.message() : ""));
  }
  const std::size_t open = counts[static_cast<int>(net::port_state::open)];
  if (o.json) {
    print_json({{"event", "summary"},
                {"address", target.to_string()},
                {"ports", results.size()},
                {"open", open},
                {"closed", counts[static_cast<int>(net::port_state::closed)]},
                {"filtered", counts[static_cast<int>(net::port_state::filtered)]},
                {"open_filtered", counts[static_cast<int>(net::port_state::open_filtered)]},
                {"error", counts[static_cast<int>(net::port_state::error)]},
                {"seconds", std::round(seconds * 1000) / 1000}});
  } else {
    std::string detail;
    auto add = [&](net::port_state st) {
      if (std::size_t c = counts[static_cast<int>(st)]) {
        detail += fmt::format(", {} {}", c, net::to_string(st));
      }
    };
    add(net::port_state::closed);
    add(net::port_state::filtered);
    add(net::port_state::open_filtered);
    add(net::port_state::error);
    print_line(
        fmt::format("{} {} port{} of {}: {} open{} in {:.2f} s", results.size(), proto,
                    results.size() == 1 ? "" : "s", target.to_string(), open, detail, seconds),
        stderr);
  }
  // Like nc -z: success when something answered.
  return open > 0 ? 0 : 1;
}

}  // namespace

void setup_probe(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<probe_cli_options>();
  auto* cmd = app.add_subcommand("probe", "Which ports accept connections (like nc -z)");
  cmd->add_option("host", o->host, "Host name or address")->required();
  cmd->add_option("ports", o->ports, "22  |  22,80,443  |  8000-8100  |  http,https")->required();
  cmd->add_option("-t,--timeout", o->timeout, "Seconds to wait for each port")
      ->capture_default_str();
  cmd->add_option("-c,--concurrency", o->concurrency, "Probes in flight at once")
      ->capture_default_str();
  cmd->add_flag("-u,--udp", o->udp,
                "UDP: a reply means open, ICMP port unreachable closed, silence open|filtered");
  cmd->add_flag("-a,--all", o->all, "Also list ports that are not open");
  cmd->add_flag("-4", o->v4, "Use the host's IPv4 address");
  cmd->add_flag("-6", o->v6, "Use the host's IPv6 address");
  cmd->add_flag("--json", o->json, "One JSON object per port, then a summary object");
  cmd->footer(
      "Exit status 0 when at least one port is open, 1 otherwise. Probe only hosts you run.");
  cmd->callback([o, &exit_code] { exit_code = run_probe(*o); });
}

}  // namespace sockit::cli
