// getifaddrs walk: links (AF_PACKET gives the MAC) and their IPv4/IPv6 addresses.
#include "sockit/net/interfaces.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <memory>

namespace sockit::net {
namespace {

ip_address to_ip(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    return ipv4_address{ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr)};
  }
  ipv6_address::bytes_type b{};
  std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
  return ipv6_address{b};
}

unsigned count_ones(const ip_address& mask) {
  const uint128 v = mask.to_uint();
  return static_cast<unsigned>(std::popcount(static_cast<std::uint64_t>(v)) +
                               std::popcount(static_cast<std::uint64_t>(v >> 64)));
}

int read_mtu(const std::string& name) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  ifreq req{};
  std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
  int mtu = ::ioctl(fd, SIOCGIFMTU, &req) == 0 ? req.ifr_mtu : -1;
  ::close(fd);
  return mtu;
}

}  // namespace

bool network_interface::is_up() const noexcept { return (flags & IFF_UP) != 0; }
bool network_interface::is_running() const noexcept { return (flags & IFF_RUNNING) != 0; }
bool network_interface::is_loopback() const noexcept { return (flags & IFF_LOOPBACK) != 0; }

std::vector<std::string> network_interface::flag_names() const {
  static constexpr std::pair<unsigned, const char*> names[] = {{IFF_UP, "UP"},
                                                               {IFF_BROADCAST, "BROADCAST"},
                                                               {IFF_LOOPBACK, "LOOPBACK"},
                                                               {IFF_POINTOPOINT, "POINTOPOINT"},
                                                               {IFF_RUNNING, "RUNNING"},
                                                               {IFF_NOARP, "NOARP"},
                                                               {IFF_PROMISC, "PROMISC"},
                                                               {IFF_MULTICAST, "MULTICAST"}};
  std::vector<std::string> out;
  for (auto [bit, label] : names) {
    if (flags & bit) out.emplace_back(label);
  }
  return out;
}

std::vector<network_interface> list_interfaces(std::error_code& ec) {
  ifaddrs* raw = nullptr;
  if (::getifaddrs(&raw) != 0) {
    ec = {errno, std::system_category()};
    return {};
  }
  std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> list(raw, &freeifaddrs);
  std::vector<network_interface> out;
  auto find = [&](const char* name) -> network_interface& {
    for (auto& i : out) {
      if (i.name == name) return i;
    }
    network_interface& i = out.emplace_back();
    i.name = name;
    i.index = if_nametoindex(name);
    i.mtu = read_mtu(i.name);
    return i;
  };
  for (ifaddrs* ifa = raw; ifa != nullptr; ifa = ifa->ifa_next) {
    if (ifa->ifa_name == nullptr) continue;
    network_interface& iface = find(ifa->ifa_name);
    iface.flags = ifa->ifa_flags;
    const sockaddr* sa = ifa->ifa_addr;
    if (sa == nullptr) continue;
    if (sa->sa_family == AF_PACKET) {
      const auto* ll = reinterpret_cast<const sockaddr_ll*>(sa);
      if (ll->sll_halen == 6) {
        char mac[18];
        std::snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", ll->sll_addr[0],
                      ll->sll_addr[1], ll->sll_addr[2], ll->sll_addr[3], ll->sll_addr[4],
                      ll->sll_addr[5]);
        iface.mac = mac;
      }
      continue;
    }
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) continue;
    interface_address a;
    a.address = to_ip(sa);
    if (ifa->ifa_netmask != nullptr && ifa->ifa_netmask->sa_family == sa->sa_family) {
      a.prefix = count_ones(to_ip(ifa->ifa_netmask));
    }
    if (sa->sa_family == AF_INET6) {
      a.scope_id = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_scope_id;
    }
    // ifa_broadaddr and ifa_dstaddr share storage; the flags say which it is.
    if (ifa->ifa_broadaddr != nullptr && ifa->ifa_broadaddr->sa_family == sa->sa_family) {
      if (ifa->ifa_flags & IFF_BROADCAST) {
        a.broadcast = to_ip(ifa->ifa_broadaddr);
      } else if (ifa->ifa_flags & IFF_POINTOPOINT) {
        a.peer = to_ip(ifa->ifa_broadaddr);
      }
    }
    iface.addresses.push_back(a);
  }
  ec.clear();
  return out;
}

}  // namespace sockit::net
