// IPv4 and IPv6 addresses as values: strict (inet_pton) and inet_aton parsing, RFC 5952
// formatting, conversions, and the classification flags of Python's ipaddress module.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace sockit::net {

/// 128-bit unsigned integer (a GCC/Clang extension), for IPv6 arithmetic and counts.
__extension__ typedef unsigned __int128 uint128;

/// Decimal text of `v` ("340282366920938463463374607431768211455").
std::string to_decimal(uint128 v);

enum class ip_version : std::uint8_t { v4 = 4, v6 = 6 };

/// What an address (or a whole subnet) is used for. The first eight flags mean exactly what
/// the same-named properties of Python's ipaddress mean (CPython 3.14: the IANA special-purpose
/// registries with their exceptions, RFC 9637's 3fff::/20, and IPv4-mapped IPv6 addresses
/// taking every flag but is_site_local from their IPv4 address). The rest are sockit's own.
struct ip_flags {
  bool is_private = false;      // not globally reachable (IANA registry)
  bool is_global = false;       // globally reachable (IANA registry)
  bool is_loopback = false;     // 127.0.0.0/8, ::1
  bool is_link_local = false;   // 169.254.0.0/16, fe80::/10
  bool is_multicast = false;    // 224.0.0.0/4, ff00::/8
  bool is_reserved = false;     // 240.0.0.0/4 (class E), IETF-reserved IPv6 blocks
  bool is_unspecified = false;  // 0.0.0.0, ::
  bool is_site_local = false;   // fec0::/10 (deprecated by RFC 3879); IPv6 only
  bool is_shared = false;       // 100.64.0.0/10, carrier-grade NAT (RFC 6598)
  bool is_documentation =
      false;                // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
  bool is_rfc1918 = false;  // 10/8, 172.16/12, 192.168/16: the classic "private" ranges
  bool is_unique_local = false;  // fc00::/7 (RFC 4193), IPv6's RFC 1918
  friend bool operator==(const ip_flags&, const ip_flags&) = default;
};

class ipv4_address {
 public:
  using bytes_type = std::array<std::uint8_t, 4>;
  /// Longest text form: "255.255.255.255".
  static constexpr std::size_t max_text_length = 15;

  constexpr ipv4_address() noexcept = default;
  /// From the address as an integer in host byte order (192.168.1.2 is 0xc0a80102).
  constexpr explicit ipv4_address(std::uint32_t value) noexcept : value_(value) {}
  /// From the four bytes in network order, as inet_aton stores them.
  constexpr explicit ipv4_address(const bytes_type& b) noexcept
      : value_(std::uint32_t{b[0]} << 24 | std::uint32_t{b[1]} << 16 | std::uint32_t{b[2]} << 8 |
               std::uint32_t{b[3]}) {}

  static constexpr ipv4_address any() noexcept { return ipv4_address{}; }
  static constexpr ipv4_address loopback() noexcept { return ipv4_address{0x7f000001u}; }
  static constexpr ipv4_address broadcast() noexcept { return ipv4_address{0xffffffffu}; }

  /// Strict dotted decimal, as inet_pton and Python's ipaddress accept it: exactly four
  /// decimal octets 0-255 without leading zeros or signs. Throws std::system_error
  /// (sockit::errc::invalid_address) whose what() says what is wrong.
  static ipv4_address parse(std::string_view text);
  /// Non-throwing form: on failure sets `ec` and returns 0.0.0.0. Never allocates.
  static ipv4_address parse(std::string_view text, std::error_code& ec) noexcept;
  /// As above, and `why` receives a one-line explanation on failure.
  static ipv4_address parse(std::string_view text, std::error_code& ec, std::string& why);

  /// Lenient parsing exactly as glibc's inet_aton: 1 to 4 parts, each decimal, octal (leading
  /// 0) or hex (0x); the last part fills the remaining bytes (127.1 = 127.0.0.1, 10.65535 =
  /// 10.0.255.255), and anything after a space is ignored. Throws like parse().
  static ipv4_address parse_aton(std::string_view text);
  static ipv4_address parse_aton(std::string_view text, std::error_code& ec) noexcept;
  static ipv4_address parse_aton(std::string_view text, std::error_code& ec, std::string& why);

  constexpr std::uint32_t to_uint() const noexcept { return value_; }
  constexpr bytes_type to_bytes() const noexcept {
    return {static_cast<std::uint8_t>(value_ >> 24), static_cast<std::uint8_t>(value_ >> 16),
            static_cast<std::uint8_t>(value_ >> 8), static_cast<std::uint8_t>(value_)};
  }
  /// Dotted decimal.
  std::string to_string() const;
  /// Writes the dotted decimal to `out` (at least max_text_length bytes, no NUL); returns
  /// the length. Never allocates.
  std::size_t format(char* out) const noexcept;

  /// "1.168.192.in-addr.arpa" style name for PTR lookups (Python's reverse_pointer).
  std::string reverse_pointer() const;
  /// The 32 bits by octet: "11000000.10101000.00000001.00000010".
  std::string to_binary() const;

  constexpr bool in(std::uint32_t net, unsigned prefix) const noexcept {
    return prefix == 0 || (value_ >> (32 - prefix)) == (net >> (32 - prefix));
  }
  constexpr bool is_loopback() const noexcept { return in(0x7f000000u, 8); }
  constexpr bool is_link_local() const noexcept { return in(0xa9fe0000u, 16); }
  constexpr bool is_multicast() const noexcept { return in(0xe0000000u, 4); }
  constexpr bool is_reserved() const noexcept { return in(0xf0000000u, 4); }
  constexpr bool is_unspecified() const noexcept { return value_ == 0; }
  constexpr bool is_shared() const noexcept { return in(0x64400000u, 10); }
  constexpr bool is_rfc1918() const noexcept {
    return in(0x0a000000u, 8) || in(0xac100000u, 12) || in(0xc0a80000u, 16);
  }
  constexpr bool is_documentation() const noexcept {
    return in(0xc0000200u, 24) || in(0xc6336400u, 24) || in(0xcb007100u, 24);
  }
  /// Not globally reachable per the IANA IPv4 special-purpose registry.
  constexpr bool is_private() const noexcept;
  /// Globally reachable: not private and not in the shared 100.64.0.0/10.
  constexpr bool is_global() const noexcept { return !is_shared() && !is_private(); }
  ip_flags flags() const noexcept;

  /// The historic class (RFC 791): 'A'..'E' from the leading bits.
  constexpr char historic_class() const noexcept {
    if ((value_ >> 31) == 0) return 'A';
    if ((value_ >> 30) == 2) return 'B';
    if ((value_ >> 29) == 6) return 'C';
    if ((value_ >> 28) == 14) return 'D';
    return 'E';
  }

  friend constexpr auto operator<=>(const ipv4_address&, const ipv4_address&) = default;

 private:
  std::uint32_t value_ = 0;
};

class ipv6_address {
 public:
  using bytes_type = std::array<std::uint8_t, 16>;
  /// Longest text form: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" (only ::ffff:a.b.c.d
  /// is printed with a dotted tail, so formatted text is at most 39 characters).
  static constexpr std::size_t max_text_length = 45;

  constexpr ipv6_address() noexcept = default;
  constexpr explicit ipv6_address(uint128 value) noexcept : value_(value) {}
  constexpr explicit ipv6_address(const bytes_type& b) noexcept {
    for (auto byte : b) value_ = value_ << 8 | byte;
  }
  static constexpr ipv6_address any() noexcept { return ipv6_address{}; }
  static constexpr ipv6_address loopback() noexcept { return ipv6_address{uint128{1}}; }
  /// ::ffff:a.b.c.d, the IPv4-mapped form (RFC 4291 2.5.5.2).
  static constexpr ipv6_address v4_mapped(ipv4_address a) noexcept {
    return ipv6_address{uint128{0xffff} << 32 | a.to_uint()};
  }

  /// Strict text as inet_pton and Python's ipaddress accept it: up to eight groups of 1-4 hex
  /// digits, one "::", an optional dotted IPv4 tail. No zone ("%eth0"), no brackets.
  static ipv6_address parse(std::string_view text);
  static ipv6_address parse(std::string_view text, std::error_code& ec) noexcept;
  static ipv6_address parse(std::string_view text, std::error_code& ec, std::string& why);

  constexpr uint128 to_uint() const noexcept { return value_; }
  constexpr bytes_type to_bytes() const noexcept {
    bytes_type b{};
    for (int i = 15; i >= 0; --i)
      b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(value_ >> (8 * (15 - i)));
    return b;
  }
  constexpr std::uint16_t group(unsigned i) const noexcept {
    return static_cast<std::uint16_t>(value_ >> (16 * (7 - i)));
  }
  /// RFC 5952 text: lower case, no leading zeros, the longest run (first on a tie) of two or
  /// more zero groups as "::", and ::ffff:a.b.c.d for IPv4-mapped addresses.
  std::string to_string() const;
  /// Writes the RFC 5952 text to `out` (at least max_text_length bytes); returns the length.
  std::size_t format(char* out) const noexcept;
  /// All eight groups, four digits each: "2001:0db8:0000:...".
  std::string to_exploded() const;
  /// "b.a.9.8....ip6.arpa" (Python's reverse_pointer).
  std::string reverse_pointer() const;
  /// The 128 bits by 16-bit group, separated by ':'.
  std::string to_binary() const;

  constexpr bool in(uint128 net, unsigned prefix) const noexcept {
    return prefix == 0 || (value_ >> (128 - prefix)) == (net >> (128 - prefix));
  }
  constexpr bool is_v4_mapped() const noexcept { return (value_ >> 32) == 0xffff; }
  constexpr ipv4_address mapped_v4() const noexcept {
    return ipv4_address{static_cast<std::uint32_t>(value_)};
  }
  /// 2002::/16 carries an IPv4 address in bits 16-47 (Python's sixtofour).
  constexpr bool is_6to4() const noexcept { return (value_ >> 112) == 0x2002; }
  constexpr ipv4_address sixtofour_v4() const noexcept {
    return ipv4_address{static_cast<std::uint32_t>(value_ >> 80)};
  }
  /// 2001::/32: Teredo server (bits 32-63) and client (the last 32 bits, inverted).
  constexpr bool is_teredo() const noexcept { return (value_ >> 96) == 0x20010000u; }
  constexpr ipv4_address teredo_server() const noexcept {
    return ipv4_address{static_cast<std::uint32_t>(value_ >> 64)};
  }
  constexpr ipv4_address teredo_client() const noexcept {
    return ipv4_address{~static_cast<std::uint32_t>(value_)};
  }

  constexpr bool is_loopback() const noexcept {
    return is_v4_mapped() ? mapped_v4().is_loopback() : value_ == 1;
  }
  constexpr bool is_unspecified() const noexcept {
    return is_v4_mapped() ? mapped_v4().is_unspecified() : value_ == 0;
  }
  constexpr bool is_link_local() const noexcept {
    return is_v4_mapped() ? mapped_v4().is_link_local() : in(hi(0xfe80), 10);
  }
  constexpr bool is_multicast() const noexcept {
    return is_v4_mapped() ? mapped_v4().is_multicast() : in(hi(0xff00), 8);
  }
  constexpr bool is_site_local() const noexcept { return in(hi(0xfec0), 10); }
  constexpr bool is_unique_local() const noexcept { return in(hi(0xfc00), 7); }
  constexpr bool is_documentation() const noexcept {
    if (is_v4_mapped()) return mapped_v4().is_documentation();
    return in(hi(0x2001, 0x0db8), 32) || in(hi(0x3fff), 20);
  }
  /// IETF-reserved blocks (Python's _reserved_networks: ::/8, 100::/8, 200::/7, ...).
  constexpr bool is_reserved() const noexcept {
    if (is_v4_mapped()) return mapped_v4().is_reserved();
    const unsigned top = static_cast<unsigned>(value_ >> 120);  // first byte
    if (top <= 0x01) return true;                               // ::/8, 100::/8
    if (top >= 0x02 && top <= 0x1f) return true;                // 200::/7 .. 1000::/4
    if (top >= 0x40 && top <= 0xef) return true;                // 4000::/3 .. e000::/4
    if (top >= 0xf0 && top <= 0xfb) return true;                // f000::/5, f800::/6
    return in(hi(0xfe00), 9);
  }
  /// Not globally reachable per the IANA IPv6 special-purpose registry.
  constexpr bool is_private() const noexcept;
  constexpr bool is_global() const noexcept {
    return is_v4_mapped() ? mapped_v4().is_global() : !is_private();
  }
  ip_flags flags() const noexcept;

  friend constexpr auto operator<=>(const ipv6_address&, const ipv6_address&) = default;

 private:
  // The address whose first groups are g0, g1, g2 and the rest zero.
  static constexpr uint128 hi(std::uint16_t g0, std::uint16_t g1 = 0, std::uint16_t g2 = 0) {
    return uint128{g0} << 112 | uint128{g1} << 96 | uint128{g2} << 80;
  }
  uint128 value_ = 0;
};

namespace detail {

// The IANA special-purpose registries' "not globally reachable" blocks and their globally
// reachable exceptions, as CPython's ipaddress lists them (_private_networks and
// _private_networks_exceptions). Address and network classification both read these.
struct v4_block {
  std::uint32_t net;
  std::uint8_t prefix;
};
struct v6_block {
  uint128 net;
  std::uint8_t prefix;
};
constexpr uint128 v6_groups(std::uint16_t g0, std::uint16_t g1 = 0, std::uint16_t g2 = 0,
                            std::uint16_t g7 = 0) {
  return uint128{g0} << 112 | uint128{g1} << 96 | uint128{g2} << 80 | g7;
}

inline constexpr v4_block v4_not_global[] = {
    {0x00000000u, 8},  {0x0a000000u, 8},  {0x7f000000u, 8},  {0xa9fe0000u, 16}, {0xac100000u, 12},
    {0xc0000000u, 24}, {0xc00000aau, 31}, {0xc0000200u, 24}, {0xc0a80000u, 16}, {0xc6120000u, 15},
    {0xc6336400u, 24}, {0xcb007100u, 24}, {0xf0000000u, 4},  {0xffffffffu, 32}};
inline constexpr v4_block v4_not_global_exceptions[] = {{0xc0000009u, 32}, {0xc000000au, 32}};

inline constexpr v6_block v6_not_global[] = {{1, 128},                          // ::1
                                             {0, 128},                          // ::
                                             {uint128{0xffff} << 32, 96},       // ::ffff:0:0/96
                                             {v6_groups(0x64, 0xff9b, 1), 48},  // 64:ff9b:1::/48
                                             {v6_groups(0x100), 64},            // 100::/64
                                             {v6_groups(0x2001), 23},           // 2001::/23
                                             {v6_groups(0x2001, 0xdb8), 32},    // 2001:db8::/32
                                             {v6_groups(0x2002), 16},           // 2002::/16
                                             {v6_groups(0x3fff), 20},   // 3fff::/20 (RFC 9637)
                                             {v6_groups(0xfc00), 7},    // fc00::/7
                                             {v6_groups(0xfe80), 10}};  // fe80::/10
inline constexpr v6_block v6_not_global_exceptions[] = {
    {v6_groups(0x2001, 1, 0, 1), 128}, {v6_groups(0x2001, 1, 0, 2), 128},
    {v6_groups(0x2001, 3), 32},        {v6_groups(0x2001, 4, 0x112), 48},
    {v6_groups(0x2001, 0x20), 28},     {v6_groups(0x2001, 0x30), 28}};

template <typename Block, std::size_t N, typename Addr>
constexpr bool in_any(const Block (&blocks)[N], const Addr& a) noexcept {
  for (const auto& b : blocks) {
    if (a.in(b.net, b.prefix)) return true;
  }
  return false;
}

}  // namespace detail

constexpr bool ipv4_address::is_private() const noexcept {
  return detail::in_any(detail::v4_not_global, *this) &&
         !detail::in_any(detail::v4_not_global_exceptions, *this);
}

constexpr bool ipv6_address::is_private() const noexcept {
  if (is_v4_mapped()) return mapped_v4().is_private();
  return detail::in_any(detail::v6_not_global, *this) &&
         !detail::in_any(detail::v6_not_global_exceptions, *this);
}

/// Either kind of address. Ordered like Python's sorted(): every IPv4 before every IPv6.
class ip_address {
 public:
  constexpr ip_address() noexcept = default;
  constexpr ip_address(ipv4_address a) noexcept : v4_(a) {}  // NOLINT: implicit on purpose
  constexpr ip_address(ipv6_address a) noexcept : version_(ip_version::v6), v6_(a) {}  // NOLINT
  /// From an integer as Python's ip_address(int) does: IPv4 below 2^32, else IPv6.
  static constexpr ip_address from_uint(uint128 v, ip_version version) noexcept {
    if (version == ip_version::v4) return ipv4_address{static_cast<std::uint32_t>(v)};
    return ipv6_address{v};
  }

  /// Strict IPv4 or IPv6 text (the IPv6 form when the text has a ':').
  static ip_address parse(std::string_view text);
  static ip_address parse(std::string_view text, std::error_code& ec) noexcept;
  static ip_address parse(std::string_view text, std::error_code& ec, std::string& why);

  constexpr ip_version version() const noexcept { return version_; }
  constexpr bool is_v4() const noexcept { return version_ == ip_version::v4; }
  constexpr bool is_v6() const noexcept { return version_ == ip_version::v6; }
  constexpr ipv4_address v4() const noexcept { return v4_; }
  constexpr ipv6_address v6() const noexcept { return v6_; }
  /// 32 or 128.
  constexpr unsigned bits() const noexcept { return is_v4() ? 32 : 128; }
  /// The address as an integer (an IPv4 address in the low 32 bits).
  constexpr uint128 to_uint() const noexcept { return is_v4() ? v4_.to_uint() : v6_.to_uint(); }
  /// The packed bytes in network order: 4 or 16 of them in `out`; returns the count.
  std::size_t to_bytes(std::uint8_t* out) const noexcept;

  std::string to_string() const;
  std::size_t format(char* out) const noexcept;  // out: at least 45 bytes
  std::string reverse_pointer() const;
  ip_flags flags() const noexcept { return is_v4() ? v4_.flags() : v6_.flags(); }

  friend constexpr bool operator==(const ip_address& a, const ip_address& b) noexcept {
    return a.version_ == b.version_ && a.to_uint() == b.to_uint();
  }
  friend constexpr std::strong_ordering operator<=>(const ip_address& a,
                                                    const ip_address& b) noexcept {
    if (a.version_ != b.version_) return a.version_ <=> b.version_;
    const uint128 x = a.to_uint(), y = b.to_uint();
    return x < y   ? std::strong_ordering::less
           : x > y ? std::strong_ordering::greater
                   : std::strong_ordering::equal;
  }

 private:
  ip_version version_ = ip_version::v4;
  ipv4_address v4_;
  ipv6_address v6_;
};

}  // namespace sockit::net
