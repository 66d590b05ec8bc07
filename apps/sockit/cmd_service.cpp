// sockit service: /etc/services both ways (name -> port, port -> name), aliases, port range.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "commands.hpp"
#include "netutil_format.hpp"
#include "output.hpp"
#include "sockit/net/lookup.hpp"

namespace sockit::cli {
namespace {

struct service_options {
  std::vector<std::string> queries;
  std::string proto;
  bool json = false;
  bool from_stdin = false;
};

const char* range_text(net::port_range r) {
  switch (r) {
    case net::port_range::well_known:
      return "well-known (0-1023: system services; binding needs privileges)";
    case net::port_range::registered:
      return "registered (1024-49151: assigned by IANA to applications)";
    case net::port_range::dynamic:
      return "dynamic (49152-65535: ephemeral, for clients' source ports)";
  }
  return "";
}

void show(const std::string& query, const service_options& o) {
  const bool numeric =
      !query.empty() && query.size() <= 5 &&
      std::all_of(query.begin(), query.end(), [](char c) { return c >= '0' && c <= '9'; });
  std::vector<net::service_entry> found;
  std::vector<std::string> protos;
  if (!o.proto.empty()) {
    protos.push_back(o.proto);
  } else {
    protos = {"tcp", "udp"};
  }
  std::uint16_t port = 0;
  if (numeric) {
    unsigned v = static_cast<unsigned>(std::stoul(query));
    if (v > 65535) throw std::invalid_argument("port " + query + " is out of range 0-65535");
    port = static_cast<std::uint16_t>(v);
  } else if (query.empty() ||
             std::all_of(query.begin(), query.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw std::invalid_argument("port '" + query + "' is out of range 0-65535");
  }
  for (const auto& p : protos) {
    auto e = numeric ? net::service_by_port(port, p) : net::service_by_name(query, p);
    if (e) found.push_back(*e);
  }
  if (found.empty() && o.proto.empty()) {  // e.g. a service listed for sctp or ddp only
    auto e = numeric ? net::service_by_port(port) : net::service_by_name(query);
    if (e) found.push_back(*e);
  }
  if (found.empty() && !numeric) {
    throw std::invalid_argument("unknown service '" + query + "'" +
                                (o.proto.empty() ? "" : " for " + o.proto) +
                                " (see /etc/services)");
  }
  if (numeric && found.empty()) {
    // A port without a name is still a port: say which range it is in.
    if (o.json) {
      print_json({{"query", query},
                  {"port", port},
                  {"range", net::to_string(net::classify_port(port))},
                  {"entries", nlohmann::json::array()}});
    } else {
      print_line(fmt::format("port {}: no name in /etc/services{}; {}", port,
                             o.proto.empty() ? "" : " for " + o.proto,
                             range_text(net::classify_port(port))));
    }
    return;
  }
  if (o.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& e : found) {
      list.push_back(
          {{"name", e.name}, {"port", e.port}, {"protocol", e.protocol}, {"aliases", e.aliases}});
    }
    print_json({{"query", query},
                {"port", found.front().port},
                {"range", net::to_string(net::classify_port(found.front().port))},
                {"entries", list}});
    return;
  }
  for (const auto& e : found) {
    std::string aliases;
    for (const auto& a : e.aliases) aliases += (aliases.empty() ? "" : ", ") + a;
    print_line(fmt::format("{} {}/{}{}", escape_for_terminal(e.name), e.port, e.protocol,
                           aliases.empty() ? "" : "   aliases: " + escape_for_terminal(aliases)));
  }
  print_line(fmt::format("  port {} is {}", found.front().port,
                         range_text(net::classify_port(found.front().port))));
}

int run_service(const service_options& o) {
  auto inputs = collect_inputs(o.queries, o.from_stdin);
  if (inputs.empty()) throw std::invalid_argument("no service given (NAME or PORT)");
  return for_each_input(inputs, o.json, [&](const std::string& q) { show(q, o); });
}

}  // namespace

void setup_service(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<service_options>();
  auto* cmd = app.add_subcommand("service", "Service names and ports (/etc/services), both ways");
  cmd->add_option("query", o->queries, "A service name (mysql, http) or a port number (3306)");
  cmd->add_option("-p,--proto", o->proto, "tcp or udp (default: both)")
      ->check(CLI::IsMember({"tcp", "udp", "sctp", "ddp"}));
  cmd->add_flag("--json", o->json, "One JSON object per query");
  cmd->add_flag("--stdin", o->from_stdin, "Read queries from standard input, one per line");
  cmd->footer(
      "Like Python's socket.getservbyname('mysql') -> 3306 and getservbyport(80) -> 'http'.");
  cmd->callback([o, &exit_code] { exit_code = run_service(*o); });
}

}  // namespace sockit::cli
