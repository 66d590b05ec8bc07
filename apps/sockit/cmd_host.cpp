// sockit host: this machine's names and interfaces, what the seeds do with hostname, ifconfig
// and gethostbyname(gethostname()).
#include <fmt/format.h>

#include <memory>
#include <stdexcept>

#include "commands.hpp"
#include "netutil_format.hpp"
#include "output.hpp"
#include "sockit/net/interfaces.hpp"
#include "sockit/net/lookup.hpp"
#include "sockit/net/subnet.hpp"

namespace sockit::cli {
namespace {

struct host_options {
  bool json = false;
};

int run_host(const host_options& o) {
  const std::string name = net::host_name();
  const std::string fqdn = net::fully_qualified_name(name);
  std::error_code ec;
  std::string why;
  auto own = net::lookup_host(name, net::address_family::any, ec, &why);
  std::vector<std::string> own_addrs;
  for (const auto& a : own.addresses) own_addrs.push_back(a.to_string());
  auto ifaces = net::list_interfaces(ec);
  if (ec) throw std::system_error(ec, "getifaddrs");
  if (o.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& i : ifaces) {
      nlohmann::json addrs = nlohmann::json::array();
      for (const auto& a : i.addresses) {
        auto s = net::subnet(a.address, a.prefix);
        addrs.push_back(
            {{"address", a.address.to_string()},
             {"version", a.address.is_v4() ? 4 : 6},
             {"prefix", a.prefix},
             {"network", s.network_subnet().to_string()},
             {"broadcast", a.broadcast ? nlohmann::json(a.broadcast->to_string()) : nullptr},
             {"peer", a.peer ? nlohmann::json(a.peer->to_string()) : nullptr},
             {"scope_id", a.scope_id}});
      }
      list.push_back({{"name", i.name},
                      {"index", i.index},
                      {"flags", i.flag_names()},
                      {"mtu", i.mtu < 0 ? nlohmann::json(nullptr) : nlohmann::json(i.mtu)},
                      {"mac", i.mac.empty() ? nlohmann::json(nullptr) : nlohmann::json(i.mac)},
                      {"addresses", addrs}});
    }
    print_json(
        {{"hostname", name}, {"fqdn", fqdn}, {"addresses", own_addrs}, {"interfaces", list}});
    return 0;
  }
  print_line("hostname:  " + escape_for_terminal(name) + "   (gethostname)");
  print_line("FQDN:      " + escape_for_terminal(fqdn) +
             "   (getaddrinfo's canonical name, as hostname -f)");
  std::string joined;
  for (const auto& a : own_addrs) joined += (joined.empty() ? "" : ", ") + a;
  print_line("addresses: " + (joined.empty() ? "(" + why + ")" : joined) +
             "   (gethostbyname(gethostname()) and friends)");
  for (const auto& i : ifaces) {
    std::string flags;
    for (const auto& f : i.flag_names()) flags += (flags.empty() ? "" : ",") + f;
    print_line("");
    print_line(fmt::format("{}: <{}> mtu {}{}", escape_for_terminal(i.name), flags,
                           i.mtu < 0 ? std::string("?") : std::to_string(i.mtu),
                           i.mac.empty() ? "" : "  ether " + i.mac));
    for (const auto& a : i.addresses) {
      auto s = net::subnet(a.address, a.prefix);
      std::string line =
          fmt::format("    {} {}/{}  network {}", a.address.is_v4() ? "inet " : "inet6",
                      a.address.to_string(), a.prefix, s.network_subnet().to_string());
      if (a.broadcast) line += "  broadcast " + a.broadcast->to_string();
      if (a.peer) line += "  peer " + a.peer->to_string();
      if (a.address.is_v6() && a.scope_id) line += fmt::format("  scope %{}", a.scope_id);
      print_line(line);
    }
  }
  return 0;
}

}  // namespace

void setup_host(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<host_options>();
  auto* cmd = app.add_subcommand("host", "This machine: host name, FQDN, interfaces and addresses");
  cmd->add_flag("--json", o->json, "One JSON object");
  cmd->callback([o, &exit_code] { exit_code = run_host(*o); });
}

}  // namespace sockit::cli
