// subnet: an address with a prefix length (192.168.1.5/24, 2001:db8::/32), as ipcalc and
// Python's ip_interface/ip_network see it: mask, network, broadcast, host range and count,
// containment, splitting, classification. Everything but parsing and text is constexpr.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "sockit/net/address.hpp"

namespace sockit::net {

class subnet {
 public:
  /// 0.0.0.0/0.
  constexpr subnet() noexcept = default;
  /// `address` with `prefix` leading network bits; host bits of `address` are kept (see
  /// network()). Throws std::system_error (sockit::errc::invalid_prefix) when prefix > bits.
  subnet(ip_address address, unsigned prefix);
  /// Non-throwing form.
  static subnet make(ip_address address, unsigned prefix, std::error_code& ec) noexcept;

  /// "ADDR", "ADDR/PREFIX" or (IPv4) "ADDR/DOTTED-MASK". A bare address is a /32 or /128.
  /// Addresses are parsed strictly; the prefix is decimal digits; the mask must be
  /// contiguous. Throws std::system_error whose what() says which part is wrong.
  static subnet parse(std::string_view text);
  static subnet parse(std::string_view text, std::error_code& ec) noexcept;
  static subnet parse(std::string_view text, std::error_code& ec, std::string& why);
  /// ADDR and a separate dotted MASK, as in `ipcalc 192.168.1.5 255.255.255.0`.
  static subnet from_mask(ipv4_address address, ipv4_address mask, std::error_code& ec,
                          std::string* why = nullptr);

  /// The prefix length of a contiguous netmask (255.255.255.0 -> 24); false when the ones
  /// are not all leading (255.0.255.0, 0.0.0.255).
  static constexpr bool mask_to_prefix(ipv4_address mask, unsigned& prefix) noexcept {
    const std::uint32_t m = mask.to_uint();
    const std::uint32_t inverted = ~m;
    if ((inverted & (inverted + 1)) != 0) return false;  // ~mask must be 0...01...1
    prefix = 0;
    for (std::uint32_t v = m; v & 0x80000000u; v <<= 1) ++prefix;
    return true;
  }

  constexpr ip_address address() const noexcept { return address_; }
  constexpr unsigned prefix() const noexcept { return prefix_; }
  constexpr ip_version version() const noexcept { return address_.version(); }
  constexpr unsigned bits() const noexcept { return address_.bits(); }
  constexpr unsigned host_bits() const noexcept { return bits() - prefix_; }

  constexpr ip_address netmask() const noexcept { return from(mask_value()); }
  /// The wildcard (Cisco) mask: ~netmask.
  constexpr ip_address hostmask() const noexcept { return from(~mask_value() & all_ones()); }
  /// address AND netmask.
  constexpr ip_address network() const noexcept { return from(address_.to_uint() & mask_value()); }
  /// The highest address: network OR hostmask (IPv4's broadcast address).
  constexpr ip_address last() const noexcept {
    return from((address_.to_uint() & mask_value()) | (~mask_value() & all_ones()));
  }
  constexpr ip_address broadcast() const noexcept { return last(); }

  /// The usable host range, as Python's hosts() yields it: IPv4 leaves out the network and
  /// broadcast addresses except in a /31 (RFC 3021: both are hosts) and a /32 (the one
  /// address); IPv6 leaves out only the Subnet-Router anycast (network) address, except in a
  /// /127 (RFC 6164) and a /128.
  constexpr ip_address first_host() const noexcept {
    if (host_bits() <= 1) return network();
    return from(network().to_uint() + 1);
  }
  constexpr ip_address last_host() const noexcept {
    if (host_bits() <= 1 || version() == ip_version::v6) return last();
    return from(last().to_uint() - 1);
  }
  /// Number of usable hosts (first_host..last_host).
  constexpr uint128 host_count() const noexcept {
    const unsigned h = host_bits();
    if (h == 0) return 1;
    if (h == 1) return 2;
    const uint128 all = h == 128 ? ~uint128{0} : (uint128{1} << h);  // ::/0: 2^128 - 1 below
    if (version() == ip_version::v4) return all - 2;
    return h == 128 ? all : all - 1;
  }
  /// 2^host_bits, as decimal text (for ::/0 it is 2^128, one more than uint128 holds).
  std::string address_count_string() const;
  /// Exactly 2^host_bits when that fits in 64 bits (every IPv4 subnet).
  constexpr std::uint64_t address_count_u64() const noexcept {
    return host_bits() >= 64 ? ~std::uint64_t{0} : std::uint64_t{1} << host_bits();
  }

  constexpr bool contains(ip_address a) const noexcept {
    return a.version() == version() && (a.to_uint() & mask_value()) == network().to_uint();
  }
  constexpr bool contains(const subnet& s) const noexcept {
    return s.version() == version() && s.prefix_ >= prefix_ && contains(s.network());
  }
  /// This subnet with its host bits cleared (192.168.1.5/24 -> 192.168.1.0/24).
  constexpr subnet network_subnet() const noexcept { return subnet(network(), prefix_, 0); }
  constexpr bool has_host_bits() const noexcept { return network() != address_; }

  /// The `index`th subnet of length `new_prefix` (>= prefix()) inside this one. There are
  /// 2^(new_prefix - prefix()) of them; an index past the end wraps.
  constexpr subnet nth_subnet(unsigned new_prefix, uint128 index) const noexcept {
    const unsigned shift = bits() - new_prefix;
    const uint128 offset = shift >= 128 ? 0 : index << shift;
    return subnet(from(network().to_uint() + (offset & ~mask_value() & all_ones())), new_prefix, 0);
  }

  /// Classification of the whole subnet as Python's ip_network computes it: is_private and
  /// is_global from the IANA tables (both ends inside one not-globally-reachable block and
  /// neither end in an exception), every other flag true when both ends have it.
  ip_flags flags() const noexcept;

  /// "192.168.1.5/24": the address as given and the prefix. parse(to_string()) == *this.
  std::string to_string() const;

  friend constexpr bool operator==(const subnet&, const subnet&) = default;

 private:
  constexpr subnet(ip_address a, unsigned prefix, int /*unchecked*/) noexcept
      : address_(a), prefix_(static_cast<std::uint8_t>(prefix)) {}
  constexpr uint128 all_ones() const noexcept {
    return bits() == 32 ? uint128{0xffffffffu} : ~uint128{0};
  }
  constexpr uint128 mask_value() const noexcept {
    if (prefix_ == 0) return 0;
    return (all_ones() << (bits() - prefix_)) & all_ones();
  }
  constexpr ip_address from(uint128 v) const noexcept {
    return ip_address::from_uint(v, version());
  }

  ip_address address_;
  std::uint8_t prefix_ = 0;
};

/// The longest prefix whose subnets still have at least `hosts` usable hosts (Python's
/// counting: /31 and /127 have 2, /32 and /128 have 1). False when even /0 has too few.
bool prefix_for_hosts(ip_version version, uint128 hosts, unsigned& prefix) noexcept;

}  // namespace sockit::net
