// sockit ipcalc: subnet arithmetic explained (mask, network, broadcast, host range and count,
// class, flags), `ipcalc same A B` (the seeds' AND test for one subnet) and `ipcalc split`.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.hpp"
#include "netutil_format.hpp"
#include "output.hpp"
#include "sockit/net/subnet.hpp"

namespace sockit::cli {
namespace {

struct ipcalc_options {
  std::vector<std::string> inputs;
  bool json = false;
  bool explain = false;
  bool from_stdin = false;
};

struct same_options {
  std::string a, b, mask;
  bool json = false;
};

struct split_options {
  std::string network;
  int prefix = -1;
  std::string hosts;
  unsigned limit = 256;
  bool json = false;
};

// "ADDR/P", "ADDR/MASK", "ADDR" or the two words "ADDR MASK".
net::subnet parse_subnet_words(const std::vector<std::string>& words) {
  if (words.size() == 1) return net::subnet::parse(words[0]);
  if (words.size() == 2) {
    if (words[0].find('/') != std::string::npos) {
      throw std::invalid_argument("give either ADDR/PREFIX or ADDR MASK, not both");
    }
    std::string_view mask = words[1];
    if (mask.starts_with('/')) mask.remove_prefix(1);
    return net::subnet::parse(words[0] + "/" + std::string(mask));
  }
  throw std::invalid_argument("expected ADDR/PREFIX, ADDR/MASK or ADDR MASK");
}

std::string count_text(const net::subnet& s, bool hosts) {
  return hosts ? net::to_decimal(s.host_count()) : s.address_count_string();
}

nlohmann::json subnet_json(const net::subnet& s) {
  const bool v4 = s.version() == net::ip_version::v4;
  nlohmann::json j{{"version", v4 ? 4 : 6},
                   {"address", s.address().to_string()},
                   {"prefix", s.prefix()},
                   {"netmask", s.netmask().to_string()},
                   {"hostmask", s.hostmask().to_string()},
                   {"network", s.network().to_string()},
                   {"network_cidr", s.network_subnet().to_string()},
                   {"broadcast", v4 ? nlohmann::json(s.broadcast().to_string()) : nullptr},
                   {"last_address", s.last().to_string()},
                   {"first_host", s.first_host().to_string()},
                   {"last_host", s.last_host().to_string()},
                   {"hosts", count_text(s, true)},
                   {"addresses", count_text(s, false)},
                   {"host_bits_set", s.has_host_bits()},
                   {"address_flags", flags_json(s.address().flags())},
                   {"network_flags", flags_json(s.flags())}};
  if (v4) {
    j["netmask_hex"] = fmt::format("0x{:08x}", s.netmask().v4().to_uint());
    j["class"] = std::string(1, s.address().v4().historic_class());
    j["binary"] = {{"address", s.address().v4().to_binary()},
                   {"netmask", s.netmask().v4().to_binary()},
                   {"hostmask", s.hostmask().v4().to_binary()},
                   {"network", s.network().v4().to_binary()},
                   {"broadcast", s.broadcast().v4().to_binary()}};
  } else {
    j["netmask_hex"] = nullptr;
    j["class"] = nullptr;
  }
  return j;
}

std::string hosts_note(const net::subnet& s) {
  const bool v4 = s.version() == net::ip_version::v4;
  if (s.host_bits() == 0) return "a single address (a host route)";
  if (s.host_bits() == 1) {
    return v4 ? "both addresses are hosts (RFC 3021 point-to-point /31)"
              : "both addresses are hosts (RFC 6164 point-to-point /127)";
  }
  return v4 ? "the network and broadcast addresses are not hosts"
            : "the network (Subnet-Router anycast) address is not a host";
}

std::string class_note(char c) {
  switch (c) {
    case 'A':
      return "A (leading bit 0; historic default /8)";
    case 'B':
      return "B (leading bits 10; historic default /16)";
    case 'C':
      return "C (leading bits 110; historic default /24)";
    case 'D':
      return "D (leading bits 1110: multicast)";
    default:
      return "E (leading bits 1111: reserved)";
  }
}

void print_v4(const net::subnet& s, bool explain) {
  const auto a = s.address().v4(), m = s.netmask().v4(), w = s.hostmask().v4();
  const auto n = s.network().v4(), b = s.broadcast().v4();
  auto row = [](const char* label, const std::string& value, const std::string& bin,
                const std::string& note = {}) {
    print_line(fmt::format("{:<11}{:<21}{}{}", label, value, bin, note.empty() ? "" : "  " + note));
  };
  row("Address:", a.to_string(), a.to_binary());
  row("Netmask:", fmt::format("{} = /{}", m.to_string(), s.prefix()), m.to_binary(),
      fmt::format("0x{:08x}", m.to_uint()));
  row("Wildcard:", w.to_string(), w.to_binary(), "= NOT netmask");
  row("Network:", s.network_subnet().to_string(), n.to_binary(), "= address AND netmask");
  row("Broadcast:", b.to_string(), b.to_binary(), "= network OR wildcard");
  row("HostMin:", s.first_host().to_string(), s.first_host().v4().to_binary());
  row("HostMax:", s.last_host().to_string(), s.last_host().v4().to_binary());
  print_line(fmt::format("{:<11}{} usable of {} addresses: {}", "Hosts:", count_text(s, true),
                         count_text(s, false), hosts_note(s)));
  print_line(fmt::format("{:<11}{}", "Class:", class_note(a.historic_class())));
  print_line(fmt::format("{:<11}{}", "Address:", describe_flags(a.flags(), net::ip_version::v4)));
  if (s.prefix() != 32) {
    print_line(fmt::format("{:<11}{}", "Network:", describe_flags(s.flags(), net::ip_version::v4)));
  }
  if (explain) {
    print_line("");
    print_line("How: the netmask has a 1 for every network bit. AND keeps the address's bits");
    print_line("where the mask is 1 (the network); OR with the wildcard sets every host bit");
    print_line("(the broadcast).");
    print_line(fmt::format("      {:<16} {}", a.to_string(), a.to_binary()));
    print_line(fmt::format("  AND {:<16} {}", m.to_string(), m.to_binary()));
    print_line(fmt::format("    = {:<16} {}", n.to_string(), n.to_binary()));
    print_line(fmt::format("   OR {:<16} {}", w.to_string(), w.to_binary()));
    print_line(fmt::format("    = {:<16} {}", b.to_string(), b.to_binary()));
  }
}

void print_v6(const net::subnet& s, bool explain) {
  auto row = [](const char* label, const std::string& value) {
    print_line(fmt::format("{:<11}{}", label, value));
  };
  const auto a = s.address().v6();
  row("Address:", a.to_string());
  row("Expanded:", a.to_exploded());
  row("Prefix:", fmt::format("/{}   netmask {}", s.prefix(), s.netmask().to_string()));
  row("Network:", s.network_subnet().to_string() + "   = address AND netmask");
  row("Range:", s.network().to_string() + " - " + s.last().to_string());
  row("HostMin:", s.first_host().to_string());
  row("HostMax:", s.last_host().to_string());
  row("Hosts:", fmt::format("{} usable of {} addresses (2^{}): {}", count_text(s, true),
                            count_text(s, false), s.host_bits(), hosts_note(s)));
  if (a.is_v4_mapped()) row("IPv4:", "IPv4-mapped " + a.mapped_v4().to_string());
  row("Address:", describe_flags(a.flags(), net::ip_version::v6));
  if (s.prefix() != 128) row("Network:", describe_flags(s.flags(), net::ip_version::v6));
  if (explain) {
    print_line("");
    print_line(fmt::format("The first {} of 128 bits are the network; the other {} are the host.",
                           s.prefix(), s.host_bits()));
    print_line(fmt::format("      {}", a.to_exploded()));
    print_line(fmt::format("  AND {}", s.netmask().v6().to_exploded()));
    print_line(fmt::format("    = {}", s.network().v6().to_exploded()));
  }
}

void show_one(const std::vector<std::string>& words, const ipcalc_options& o) {
  const net::subnet s = parse_subnet_words(words);
  if (o.json) {
    nlohmann::json j = subnet_json(s);
    std::string input;
    for (const auto& w : words) input += (input.empty() ? "" : " ") + w;
    j["input"] = input;
    print_json(j);
  } else if (s.version() == net::ip_version::v4) {
    print_v4(s, o.explain);
  } else {
    print_v6(s, o.explain);
  }
}

int run_ipcalc(const ipcalc_options& o) {
  if (!o.from_stdin) {
    if (o.inputs.empty()) throw std::invalid_argument("no subnet given (ADDR/PREFIX or ADDR MASK)");
    std::string joined;
    for (const auto& w : o.inputs) joined += (joined.empty() ? "" : " ") + w;
    return for_each_input({joined}, o.json, [&](const std::string&) { show_one(o.inputs, o); });
  }
  auto lines = collect_inputs({}, true);
  return for_each_input(lines, o.json, [&](const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    show_one(words, o);
  });
}

// ---- same

std::string v4_and_lines(net::ipv4_address a, const net::subnet& s) {
  const auto m = s.netmask().v4();
  return fmt::format("      {:<16} {}\n  AND {:<16} {}\n    = {:<16} {}", a.to_string(),
                     a.to_binary(), m.to_string(), m.to_binary(), s.network().to_string(),
                     s.network().v4().to_binary());
}

int run_same(const same_options& o) {
  net::subnet a = net::subnet::parse(o.a), b = net::subnet::parse(o.b);
  const bool a_prefixed = o.a.find('/') != std::string::npos;
  const bool b_prefixed = o.b.find('/') != std::string::npos;
  std::string note;
  if (!o.mask.empty()) {
    if (a_prefixed || b_prefixed) {
      throw std::invalid_argument("give either --mask or a prefix on the addresses, not both");
    }
    std::string mask = o.mask.starts_with('/') ? o.mask.substr(1) : o.mask;
    a = net::subnet::parse(o.a + "/" + mask);
    b = net::subnet::parse(o.b + "/" + mask);
  } else if (a_prefixed != b_prefixed) {
    // One mask given: both hosts use it (the usual case of one LAN).
    if (a_prefixed) {
      b = net::subnet(b.address(), a.prefix());
    } else {
      a = net::subnet(a.address(), b.prefix());
    }
    note = "one mask given; used it for both";
  } else if (!a_prefixed) {
    throw std::invalid_argument("no mask: use --mask 255.255.255.0 or A/24 B/24");
  }
  if (a.version() != b.version()) {
    throw std::invalid_argument("one address is IPv4 and the other IPv6: never one subnet");
  }
  const bool same = a.prefix() == b.prefix() && a.network() == b.network();
  const bool a_sees_b = a.contains(b.address());
  const bool b_sees_a = b.contains(a.address());
  if (o.json) {
    auto side = [](const net::subnet& s) {
      return nlohmann::json{{"address", s.address().to_string()},
                            {"prefix", s.prefix()},
                            {"netmask", s.netmask().to_string()},
                            {"network", s.network().to_string()},
                            {"network_cidr", s.network_subnet().to_string()}};
    };
    print_json({{"a", side(a)},
                {"b", side(b)},
                {"same_subnet", same},
                {"a_reaches_b_directly", a_sees_b},
                {"b_reaches_a_directly", b_sees_a}});
    return 0;
  }
  if (a.version() == net::ip_version::v4) {
    print_line(v4_and_lines(a.address().v4(), a));
    print_line("");
    print_line(v4_and_lines(b.address().v4(), b));
  } else {
    print_line(fmt::format("{} AND {} = {}", a.address().to_string(), a.netmask().to_string(),
                           a.network().to_string()));
    print_line(fmt::format("{} AND {} = {}", b.address().to_string(), b.netmask().to_string(),
                           b.network().to_string()));
  }
  print_line("");
  if (!note.empty()) print_line(note);
  if (same) {
    print_line(
        fmt::format("same subnet: yes, both ANDs give {}; they talk directly (ARP/ND on "
                    "the link, no router)",
                    a.network_subnet().to_string()));
  } else if (a.prefix() == b.prefix()) {
    print_line(
        fmt::format("same subnet: no ({} vs {}); traffic between them goes through a "
                    "router (the default gateway)",
                    a.network_subnet().to_string(), b.network_subnet().to_string()));
  } else {
    print_line(fmt::format(
        "same subnet: no, the masks differ (/{} vs /{}). {} {} {} on its link; {} {} {} on its "
        "link",
        a.prefix(), b.prefix(), a.address().to_string(), a_sees_b ? "sees" : "does not see",
        b.address().to_string(), b.address().to_string(), b_sees_a ? "sees" : "does not see",
        a.address().to_string()));
  }
  return 0;
}

// ---- split

int run_split(const split_options& o) {
  const net::subnet parent = net::subnet::parse(o.network);
  unsigned new_prefix = 0;
  if ((o.prefix >= 0) == !o.hosts.empty()) {
    throw std::invalid_argument("give exactly one of --prefix P and --hosts N");
  }
  if (o.prefix >= 0) {
    new_prefix = static_cast<unsigned>(o.prefix);
    if (new_prefix > parent.bits()) {
      throw std::invalid_argument(fmt::format("--prefix {} is longer than an IPv{} address (0-{})",
                                              o.prefix, parent.bits() == 32 ? 4 : 6,
                                              parent.bits()));
    }
  } else {
    net::uint128 want = 0;
    for (char c : o.hosts) {
      if (c < '0' || c > '9' || want > (~net::uint128{0}) / 10 - 1) {
        throw std::invalid_argument("--hosts '" + o.hosts + "' is not a number of hosts");
      }
      want = want * 10 + static_cast<unsigned>(c - '0');
    }
    if (want == 0) throw std::invalid_argument("--hosts must be at least 1");
    if (!net::prefix_for_hosts(parent.version(), want, new_prefix)) {
      throw std::invalid_argument("no subnet holds that many hosts");
    }
  }
  if (new_prefix < parent.prefix()) {
    throw std::invalid_argument(
        fmt::format("/{} subnets are larger than {} itself; choose a prefix of at least /{}",
                    new_prefix, parent.network_subnet().to_string(), parent.prefix()));
  }
  const unsigned extra = new_prefix - parent.prefix();
  const std::string total = extra == 128 ? "340282366920938463463374607431768211456"
                                         : net::to_decimal(net::uint128{1} << extra);
  const net::uint128 shown_max =
      extra >= 64 ? o.limit : std::min<net::uint128>(o.limit, net::uint128{1} << extra);
  const net::subnet example = parent.nth_subnet(new_prefix, 0);
  std::vector<net::subnet> subnets;
  for (net::uint128 i = 0; i < shown_max; ++i) subnets.push_back(parent.nth_subnet(new_prefix, i));
  const bool truncated = net::to_decimal(shown_max) != total;
  if (o.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : subnets) {
      list.push_back({{"network", s.to_string()},
                      {"first_host", s.first_host().to_string()},
                      {"last_host", s.last_host().to_string()},
                      {"last_address", s.last().to_string()},
                      {"hosts", net::to_decimal(s.host_count())}});
    }
    print_json({{"network", parent.network_subnet().to_string()},
                {"new_prefix", new_prefix},
                {"count", total},
                {"hosts_per_subnet", net::to_decimal(example.host_count())},
                {"subnets", list},
                {"truncated", truncated}});
    return 0;
  }
  print_line(fmt::format("{} split into /{}: {} subnets of {} addresses ({} usable hosts each)",
                         parent.network_subnet().to_string(), new_prefix, total,
                         example.address_count_string(), net::to_decimal(example.host_count())));
  if (!o.hosts.empty()) {
    print_line(
        fmt::format("(/{} is the longest prefix with room for {} hosts)", new_prefix, o.hosts));
  }
  for (const auto& s : subnets) {
    print_line(fmt::format("  {:<20} hosts {} - {}", s.to_string(), s.first_host().to_string(),
                           s.last_host().to_string()));
  }
  if (truncated) {
    print_line(fmt::format("  ... {} shown; use --limit to see more", net::to_decimal(shown_max)));
  }
  return 0;
}

}  // namespace

void setup_ipcalc(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ipcalc_options>();
  auto* cmd = app.add_subcommand(
      "ipcalc", "Subnet calculator: mask, network, broadcast, hosts, class, flags (v4 and v6)");
  cmd->add_option("subnet", o->inputs, "ADDR/PREFIX, ADDR/MASK, or ADDR MASK");
  cmd->add_flag("-x,--explain", o->explain, "Show the bitwise AND/OR step by step");
  cmd->add_flag("--json", o->json, "One JSON object per subnet");
  cmd->add_flag("--stdin", o->from_stdin, "Read subnets from standard input, one per line");
  cmd->footer(
      "Examples:\n"
      "  sockit ipcalc 192.168.1.5/24        sockit ipcalc 172.16.10.1 255.255.255.0\n"
      "  sockit ipcalc 2001:db8::1/64        sockit ipcalc same 172.16.10.1 172.16.10.2 "
      "--mask 255.255.255.0\n"
      "  sockit ipcalc split 10.0.0.0/24 --hosts 50\n"
      "A mask must be contiguous (ones, then zeros). Host counts follow Python's ipaddress:\n"
      "a /31 has 2 hosts (RFC 3021), a /32 one; IPv6 excludes only the subnet-router anycast.");
  cmd->callback([o, cmd, &exit_code] {
    if (!cmd->get_subcommands().empty()) return;
    exit_code = run_ipcalc(*o);
  });

  auto so = std::make_shared<same_options>();
  auto* same = cmd->add_subcommand("same", "Are two addresses in one subnet? (shows each AND)");
  same->add_option("a", so->a, "First address (optionally A/PREFIX)")->required();
  same->add_option("b", so->b, "Second address (optionally B/PREFIX)")->required();
  same->add_option("-m,--mask", so->mask, "Netmask or prefix for both: 255.255.255.0 or 24");
  same->add_flag("--json", so->json, "One JSON object");
  same->callback([so, &exit_code] { exit_code = run_same(*so); });

  auto po = std::make_shared<split_options>();
  auto* split = cmd->add_subcommand("split", "Divide a network into equal subnets");
  split->add_option("network", po->network, "The network to divide, e.g. 10.0.0.0/24")->required();
  split->add_option("-p,--prefix", po->prefix, "Length of the new subnets' prefix");
  split->add_option("--hosts", po->hosts, "Smallest subnets with at least this many hosts");
  split->add_option("--limit", po->limit, "List at most this many subnets")->capture_default_str();
  split->add_flag("--json", po->json, "One JSON object");
  split->callback([po, &exit_code] { exit_code = run_split(*po); });
}

}  // namespace sockit::cli
