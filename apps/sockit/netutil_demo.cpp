// The `sockit demo` step for the address utilities: inet_aton bytes, the seeds' same-subnet
// AND test and their 5000-byte fragmentation example, computed by the library for real.
#include <fmt/format.h>

#include <stdexcept>

#include "commands.hpp"
#include "netutil_format.hpp"
#include "sockit/net/fragment.hpp"
#include "sockit/net/lookup.hpp"
#include "sockit/net/subnet.hpp"

namespace sockit::cli {
namespace {

std::string step_addresses() {
  auto check = [](bool ok, const std::string& what) {
    if (!ok) throw std::runtime_error(what);
  };
  const auto a = net::ipv4_address::parse_aton("192.168.1.2");
  const auto bytes = a.to_bytes();
  const std::string repr = python_bytes_repr(bytes);
  check(repr == "b'\\xc0\\xa8\\x01\\x02'", "inet_aton bytes " + repr);
  const auto x = net::subnet::parse("172.16.10.1/255.255.255.0");
  const auto y = net::subnet::parse("172.16.10.2/255.255.255.0");
  check(x.network() == y.network(), "172.16.10.1 and .2 should share a /24");
  std::error_code ec;
  const auto plan = net::fragmentation::plan(net::ip_version::v4, 5000, 1500, 20, ec);
  check(!ec && plan.count() == 4, "5000 bytes over MTU 1500 should make 4 fragments");
  std::string sizes;
  for (std::uint32_t i = 0; i < plan.count(); ++i) {
    sizes += (i ? "," : "") + std::to_string(plan.at(i).total_length);
  }
  check(sizes == "1500,1500,1500,560", "fragments " + sizes);
  auto mysql = net::service_by_name("mysql", "tcp");
  std::string svc = mysql ? fmt::format("; getservbyname('mysql') = {}", mysql->port) : "";
  return fmt::format(
      "inet_aton('192.168.1.2') = {}; 172.16.10.1 AND 255.255.255.0 = {} = 172.16.10.2 AND "
      "255.255.255.0, so one subnet; a 5000-byte packet over MTU 1500 -> {} (offsets 0,185,370,555 "
      "x 8){}",
      repr, x.network().to_string(), sizes, svc);
}

}  // namespace

demo_step demo_addresses() {
  return {"addresses, subnets and fragmentation",
          "inet_aton/ntoa bytes, the subnet-mask AND that decides whether two hosts share a "
          "subnet, and how IP splits a packet larger than the MTU (sockit addr, ipcalc, frag)",
          step_addresses};
}

}  // namespace sockit::cli
