// sockit reverse: the name(s) of an address, as gethostbyaddr and getnameinfo find them.
#include <fmt/format.h>

#include <memory>
#include <stdexcept>

#include "commands.hpp"
#include "netutil_format.hpp"
#include "output.hpp"
#include "sockit/net/address.hpp"
#include "sockit/net/lookup.hpp"

namespace sockit::cli {
namespace {

struct reverse_options {
  std::vector<std::string> addresses;
  bool json = false;
};

int run_reverse(const reverse_options& o) {
  int not_found = 0;
  int status = for_each_input(o.addresses, o.json, [&](const std::string& text) {
    const auto a = net::ip_address::parse(text);
    std::error_code ec;
    std::string why;
    auto r = net::reverse_lookup(a, ec, &why);
    if (ec) {
      if (o.json) {
        print_json({{"input", text},
                    {"address", a.to_string()},
                    {"name", nullptr},
                    {"aliases", nlohmann::json::array()},
                    {"pointer", r.pointer},
                    {"error", why}});
        not_found = 1;
        return;
      }
      throw std::runtime_error(why);
    }
    if (o.json) {
      print_json({{"input", text},
                  {"address", a.to_string()},
                  {"name", r.name},
                  {"aliases", r.aliases},
                  {"pointer", r.pointer}});
      return;
    }
    print_line(fmt::format("{} -> {}", a.to_string(), escape_for_terminal(r.name)));
    for (const auto& al : r.aliases) print_line("  alias: " + escape_for_terminal(al));
    print_line("  (PTR query name: " + r.pointer + ")");
  });
  return status | not_found;
}

}  // namespace

void setup_reverse(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<reverse_options>();
  auto* cmd =
      app.add_subcommand("reverse", "The name for an address (gethostbyaddr / getnameinfo)");
  cmd->add_option("address", o->addresses, "IPv4 or IPv6 addresses")->required();
  cmd->add_flag("--json", o->json, "One JSON object per address");
  cmd->callback([o, &exit_code] { exit_code = run_reverse(*o); });
}

}  // namespace sockit::cli
