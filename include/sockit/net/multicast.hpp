// multicast: the socket options of one-to-many UDP (the seeds' 广播): SO_BROADCAST, joining a
// multicast group, the interface and hop limit of what is sent to a group. Used by
// `sockit connect --broadcast` and `sockit listen --multicast`.
#pragma once

#include <string>
#include <system_error>

#include "sockit/net/endpoint.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/net/socket_address.hpp"

namespace sockit::net {

/// The index of the interface called `name` (if_nametoindex). On failure returns 0, sets
/// `ec` (std::errc::no_such_device when no interface has that name) and `why`.
unsigned interface_index(const std::string& name, std::error_code& ec, std::string* why = nullptr);

/// 224.0.0.0/4 or ff00::/8.
bool is_multicast(const socket_address& a) noexcept;

/// SO_BROADCAST: without it the kernel refuses to send to a broadcast address (EACCES).
void set_broadcast(socket& s, bool on, std::error_code& ec) noexcept;
/// IP_MULTICAST_TTL or IPV6_MULTICAST_HOPS, by the socket's family: how many routers a
/// datagram to a group may cross (0..255; the kernel's default, 1, keeps it on the link).
void set_multicast_hops(socket& s, int hops, std::error_code& ec) noexcept;
/// IP_MULTICAST_IF (by index, ip_mreqn) or IPV6_MULTICAST_IF: the link that datagrams to a
/// group leave by, instead of the one the route to the group names.
void set_multicast_interface(socket& s, unsigned index, std::error_code& ec) noexcept;
/// IP_UNICAST_IF or IPV6_UNICAST_IF: the link every other datagram leaves by, a broadcast to
/// 255.255.255.255 included (which has no route of its own). Unlike SO_BINDTODEVICE it needs
/// no privilege and does not filter what is received.
void set_unicast_interface(socket& s, unsigned index, std::error_code& ec) noexcept;
/// Joins `group` (its port is ignored) on interface `index`: IP_ADD_MEMBERSHIP with an
/// ip_mreqn, or IPV6_JOIN_GROUP. Index 0 lets the kernel pick the link the route to the group
/// names (none, in a network without a default route: std::errc::no_such_device).
void join_group(socket& s, const socket_address& group, unsigned index,
                std::error_code& ec) noexcept;

/// A UDP socket that receives what is sent to the multicast group `group` (GROUP:PORT): bound
/// to the group's address and port with SO_REUSEADDR, so several listeners may share the
/// port, each hearing only its own group; joined on `iface` (empty: an IPv6 zone such as
/// [ff02::1%eth0], else the route's link). Only this socket's own memberships count
/// (IP_MULTICAST_ALL off). An address that is not a group is sockit::errc::invalid_address.
/// `why` receives a one-line reason on failure.
socket listen_group(const endpoint& group, const std::string& iface, std::error_code& ec,
                    std::string* why = nullptr);

struct datagram_sender_options {
  bool broadcast = false;   // SO_BROADCAST (IPv4 only: IPv6 has no broadcast)
  int multicast_hops = -1;  // -1: the kernel's default (1)
  std::string iface;        // the outgoing link (multicast or broadcast); empty: the routes'
};

/// An unconnected UDP socket for sending to `e`'s first address (stored in `to`), so that
/// replies from any sender can be received: a broadcast or a group is answered from the
/// responders' own addresses, which a connected socket would drop.
socket open_datagram_sender(const endpoint& e, const datagram_sender_options& o, socket_address& to,
                            std::error_code& ec, std::string* why = nullptr);

}  // namespace sockit::net
