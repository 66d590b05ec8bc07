// sockit resolve: every address of a name (getaddrinfo), its canonical name and aliases.
#include <fmt/format.h>

#include <memory>
#include <stdexcept>

#include "commands.hpp"
#include "netutil_format.hpp"
#include "output.hpp"
#include "sockit/net/lookup.hpp"

namespace sockit::cli {
namespace {

struct resolve_options {
  std::vector<std::string> names;
  bool v4 = false, v6 = false;
  std::string service;
  bool udp = false;
  bool json = false;
};

int run_resolve(const resolve_options& o) {
  if (o.v4 && o.v6) throw std::invalid_argument("-4 and -6 together: leave both out for both");
  const auto family = o.v4   ? net::address_family::v4
                      : o.v6 ? net::address_family::v6
                             : net::address_family::any;
  return for_each_input(o.names, o.json, [&](const std::string& name) {
    std::error_code ec;
    std::string why;
    auto r = net::lookup_host(name, family, ec, &why, o.service, o.udp);
    if (ec) throw std::runtime_error(why);
    std::vector<std::string> addrs;
    for (const auto& a : r.addresses) addrs.push_back(a.to_string());
    if (o.json) {
      nlohmann::json j{{"name", name},
                       {"canonical_name", r.canonical_name},
                       {"aliases", r.aliases},
                       {"addresses", addrs}};
      j["port"] = o.service.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.port);
      print_json(j);
      return;
    }
    print_line(fmt::format("{}: {} address{}", escape_for_terminal(name), addrs.size(),
                           addrs.size() == 1 ? "" : "es"));
    if (!r.canonical_name.empty() && r.canonical_name != name) {
      print_line("  canonical name: " + escape_for_terminal(r.canonical_name));
    }
    for (const auto& al : r.aliases) print_line("  alias: " + escape_for_terminal(al));
    for (const auto& a : r.addresses) {
      std::string where = a.is_v4() ? "IPv4" : "IPv6";
      if (o.service.empty()) {
        print_line(fmt::format("  {:<40} {}", a.to_string(), where));
      } else {
        print_line(fmt::format("  {:<40} {}",
                               a.is_v6() ? "[" + a.to_string() + "]:" + std::to_string(r.port)
                                         : a.to_string() + ":" + std::to_string(r.port),
                               where));
      }
    }
  });
}

}  // namespace

void setup_resolve(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<resolve_options>();
  auto* cmd =
      app.add_subcommand("resolve", "Every address of a name, its canonical name and aliases");
  cmd->add_option("name", o->names, "Host names (or address literals)")->required();
  cmd->add_flag("-4", o->v4, "IPv4 addresses only");
  cmd->add_flag("-6", o->v6, "IPv6 addresses only");
  cmd->add_option("-s,--service", o->service, "Also resolve a service name or port (http, 443)");
  cmd->add_flag("-u,--udp", o->udp, "Resolve the service for UDP");
  cmd->add_flag("--json", o->json, "One JSON object per name");
  cmd->callback([o, &exit_code] { exit_code = run_resolve(*o); });
}

}  // namespace sockit::cli
