// sockit frag: how an IP packet is fragmented for an MTU (each fragment's length, payload,
// offset and MF flag), with Ethernet frame sizes and the TCP MSS for that MTU.
#include <fmt/format.h>

#include <memory>
#include <stdexcept>

#include "commands.hpp"
#include "output.hpp"
#include "sockit/net/fragment.hpp"

namespace sockit::cli {
namespace {

struct frag_options {
  std::uint32_t size = 0;
  std::uint32_t mtu = 1500;
  int header = -1;
  bool v6 = false;
  bool df = false;
  bool json = false;
};

int run_frag(const frag_options& o) {
  const auto version = o.v6 ? net::ip_version::v6 : net::ip_version::v4;
  const std::uint32_t header = o.header < 0 ? net::fragmentation::default_header(version)
                                            : static_cast<std::uint32_t>(o.header);
  std::error_code ec;
  std::string why;
  const auto plan = net::fragmentation::plan(version, o.size, o.mtu, header, ec, &why);
  if (ec) throw std::invalid_argument(why);
  // IPv6 routers never fragment: only the sender does, so DF is implied for forwarding.
  const bool dropped = o.df && plan.needs_fragmentation();
  if (o.json) {
    nlohmann::json list = nlohmann::json::array();
    if (!dropped) {
      for (std::uint32_t i = 0; i < plan.count(); ++i) {
        const auto f = plan.at(i);
        list.push_back({{"index", f.index},
                        {"total_length", f.total_length},
                        {"header", f.header_length},
                        {"payload", f.payload},
                        {"offset_bytes", f.offset_bytes},
                        {"offset_field", f.offset_field()},
                        {"more_fragments", f.more_fragments},
                        {"ethernet_frame", f.ethernet_frame()}});
      }
    }
    print_json({{"version", o.v6 ? 6 : 4},
                {"packet_size", plan.packet_size()},
                {"mtu", plan.mtu()},
                {"header", plan.header()},
                {"payload", plan.payload()},
                {"fragmented", plan.needs_fragmentation() && !dropped},
                {"dont_fragment", o.df},
                {"dropped", dropped},
                {"max_fragment_payload", plan.max_fragment_payload()},
                {"fragments", list},
                {"total_ip_bytes", dropped ? 0 : plan.total_ip_bytes()},
                {"tcp_mss", plan.tcp_mss()},
                {"udp_max_unfragmented", plan.udp_max_unfragmented()}});
    return 0;
  }
  const char* ip = o.v6 ? "IPv6" : "IPv4";
  print_line(fmt::format("{} packet of {} bytes ({}-byte header + {} bytes of payload), MTU {}", ip,
                         plan.packet_size(), plan.header(), plan.payload(), plan.mtu()));
  if (dropped) {
    print_line(fmt::format(
        "Don't Fragment is set and {} > {}: the router drops it and answers with ICMP {}\n"
        "carrying MTU {}; path MTU discovery then resends in pieces of at most {} bytes.",
        plan.packet_size(), plan.mtu(),
        o.v6 ? "Packet Too Big (type 2)" : "Destination Unreachable, Fragmentation Needed (3/4)",
        plan.mtu(), plan.mtu()));
  } else if (!plan.needs_fragmentation()) {
    print_line("It fits in one frame: no fragmentation.");
  } else {
    print_line(fmt::format(
        "It does not fit: {} fragments. Each carries its own {}-byte header{}, so at most {} "
        "payload bytes,\nrounded down to a multiple of 8 because the offset field counts "
        "8-byte units.",
        plan.count(), plan.at(0).header_length, o.v6 ? " (40 + 8-byte Fragment header)" : "",
        plan.max_fragment_payload()));
  }
  if (!dropped) {
    print_line("");
    print_line(fmt::format("  {:>3}  {:>12}  {:>7}  {:>12}  {:>6}  {:>2}  {:>14}", "#",
                           "total length", "payload", "offset bytes", "field", "MF",
                           "Ethernet frame"));
    for (std::uint32_t i = 0; i < plan.count(); ++i) {
      const auto f = plan.at(i);
      print_line(fmt::format("  {:>3}  {:>12}  {:>7}  {:>12}  {:>6}  {:>2}  {:>14}", i + 1,
                             f.total_length, f.payload, f.offset_bytes, f.offset_field(),
                             f.more_fragments ? 1 : 0, f.ethernet_frame()));
    }
    if (plan.needs_fragmentation()) {
      print_line(
          fmt::format("  IP bytes sent: {} ({} more than the original, for the extra headers)",
                      plan.total_ip_bytes(), plan.total_ip_bytes() - plan.packet_size()));
    }
  }
  print_line("");
  print_line(
      fmt::format("Ethernet frame = 14-byte header + IP packet (padded to 46) + 4-byte FCS; "
                  "a {}-byte MTU gives frames of up to {} bytes.",
                  plan.mtu(), plan.mtu() + net::fragmentation::ethernet_overhead));
  print_line(fmt::format(
      "TCP MSS for MTU {}: {} - {} (IP) - 20 (TCP) = {}; largest unfragmented "
      "UDP payload: {}.",
      plan.mtu(), plan.mtu(), plan.header(), plan.tcp_mss(), plan.udp_max_unfragmented()));
  return 0;
}

}  // namespace

void setup_frag(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<frag_options>();
  auto* cmd = app.add_subcommand("frag", "IP fragmentation of a packet for an MTU, explained");
  cmd->add_option("-s,--size", o->size, "IP packet size in bytes, header included")->required();
  cmd->add_option("-m,--mtu", o->mtu, "Link MTU (Ethernet: 1500)")->capture_default_str();
  cmd->add_option("--header", o->header, "IP header length (IPv4 default 20, IPv6 40)");
  cmd->add_flag("-6,--ipv6", o->v6, "IPv6: fragments carry an 8-byte Fragment header");
  cmd->add_flag("--df", o->df, "Don't Fragment set: show what happens instead");
  cmd->add_flag("--json", o->json, "One JSON object");
  cmd->footer("Example: sockit frag --size 5000 --mtu 1500  ->  1500, 1500, 1500, 560");
  cmd->callback([o, &exit_code] { exit_code = run_frag(*o); });
}

}  // namespace sockit::cli
