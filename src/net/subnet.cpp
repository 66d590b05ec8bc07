// subnet parsing, text and network-level classification.
#include "sockit/net/subnet.hpp"

#include <algorithm>

#include "sockit/net/error.hpp"
#include "text_util.hpp"

namespace sockit::net {
namespace {

bool fail(std::string* why, std::string text) {
  if (why) *why = std::move(text);
  return false;
}

bool parse_prefix_digits(std::string_view s, unsigned max, unsigned& prefix, std::string* why) {
  unsigned long long v = 0;
  for (char c : s) {
    v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > 1000) break;
  }
  if (v > max) {
    return fail(why, "prefix /" + std::string(s.size() > 8 ? "..." : s) + " is longer than an IPv" +
                         (max == 32 ? "4" : "6") + " address (0-" + std::to_string(max) + ")");
  }
  prefix = static_cast<unsigned>(v);
  return true;
}

errc parse_impl(std::string_view text, subnet& out, std::string* why) {
  auto slash = text.find('/');
  std::string_view addr_text = text.substr(0, slash);
  std::error_code ec;
  std::string inner;
  ip_address addr =
      why ? ip_address::parse(addr_text, ec, inner) : ip_address::parse(addr_text, ec);
  if (ec) {
    fail(why, "address " + quote(addr_text) + ": " + inner);
    return errc::invalid_address;
  }
  if (slash == std::string_view::npos) {
    out = subnet::make(addr, addr.bits(), ec);
    return errc::ok;
  }
  std::string_view mask_text = text.substr(slash + 1);
  if (mask_text.find('/') != std::string_view::npos) {
    fail(why, "more than one '/'");
    return errc::invalid_prefix;
  }
  if (mask_text.empty()) {
    fail(why, "missing prefix length after '/'");
    return errc::invalid_prefix;
  }
  unsigned prefix = 0;
  if (std::all_of(mask_text.begin(), mask_text.end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    if (!parse_prefix_digits(mask_text, addr.bits(), prefix, why)) return errc::invalid_prefix;
    out = subnet::make(addr, prefix, ec);
    return errc::ok;
  }
  if (addr.is_v6() || mask_text.find('.') == std::string_view::npos) {
    fail(why, "prefix " + quote(mask_text) + " is not a number" +
                  (addr.is_v6() ? " (IPv6 takes a prefix length 0-128, not a netmask)"
                                : " 0-32 or a dotted netmask"));
    return errc::invalid_prefix;
  }
  ipv4_address mask =
      why ? ipv4_address::parse(mask_text, ec, inner) : ipv4_address::parse(mask_text, ec);
  if (ec) {
    fail(why, "netmask " + quote(mask_text) + ": " + inner);
    return errc::invalid_mask;
  }
  out = subnet::from_mask(addr.v4(), mask, ec, why);
  return ec ? errc::invalid_mask : errc::ok;
}

}  // namespace

subnet::subnet(ip_address address, unsigned prefix) {
  std::error_code ec;
  *this = make(address, prefix, ec);
  if (ec) {
    throw std::system_error(ec, "prefix /" + std::to_string(prefix) + " is out of range 0-" +
                                    std::to_string(address.bits()));
  }
}

subnet subnet::make(ip_address address, unsigned prefix, std::error_code& ec) noexcept {
  if (prefix > address.bits()) {
    ec = make_error_code(errc::invalid_prefix);
    return {};
  }
  ec.clear();
  return subnet(address, prefix, 0);
}

subnet subnet::parse(std::string_view text) {
  std::error_code ec;
  std::string why;
  subnet s = parse(text, ec, why);
  if (ec) throw std::system_error(ec, "invalid subnet " + quote(text) + ": " + why);
  return s;
}

subnet subnet::parse(std::string_view text, std::error_code& ec) noexcept {
  subnet s;
  errc e = parse_impl(text, s, nullptr);
  if (e != errc::ok) {
    ec = make_error_code(e);
    return {};
  }
  ec.clear();
  return s;
}

subnet subnet::parse(std::string_view text, std::error_code& ec, std::string& why) {
  subnet s;
  errc e = parse_impl(text, s, &why);
  if (e != errc::ok) {
    ec = make_error_code(e);
    return {};
  }
  ec.clear();
  return s;
}

subnet subnet::from_mask(ipv4_address address, ipv4_address mask, std::error_code& ec,
                         std::string* why) {
  unsigned prefix = 0;
  if (mask_to_prefix(mask, prefix)) {
    ec.clear();
    return subnet(address, prefix, 0);
  }
  ec = make_error_code(errc::invalid_mask);
  if (why) {
    unsigned host_prefix = 0;
    if (mask_to_prefix(ipv4_address{~mask.to_uint()}, host_prefix)) {
      *why = "netmask " + mask.to_string() + " is a wildcard (host) mask, not a netmask: its " +
             "ones are at the end. The netmask with these host bits is " +
             ipv4_address{~mask.to_uint()}.to_string() + " (/" + std::to_string(host_prefix) + ")";
    } else {
      *why = "netmask " + mask.to_string() + " is not contiguous (" + mask.to_binary() +
             "): a netmask is some ones followed only by zeros";
    }
  }
  return {};
}

std::string subnet::address_count_string() const {
  if (host_bits() == 128) return "340282366920938463463374607431768211456";  // 2^128
  return to_decimal(uint128{1} << host_bits());
}

std::string subnet::to_string() const {
  return address_.to_string() + "/" + std::to_string(prefix_);
}

ip_flags subnet::flags() const noexcept {
  const ip_address lo = network(), hi = last();
  const ip_flags a = lo.flags(), b = hi.flags();
  ip_flags f;
  f.is_loopback = a.is_loopback && b.is_loopback;
  f.is_link_local = a.is_link_local && b.is_link_local;
  f.is_multicast = a.is_multicast && b.is_multicast;
  f.is_reserved = a.is_reserved && b.is_reserved;
  f.is_unspecified = a.is_unspecified && b.is_unspecified;
  f.is_site_local = a.is_site_local && b.is_site_local;
  f.is_shared = a.is_shared && b.is_shared;
  f.is_documentation = a.is_documentation && b.is_documentation;
  f.is_rfc1918 = a.is_rfc1918 && b.is_rfc1918;
  f.is_unique_local = a.is_unique_local && b.is_unique_local;
  // Python's _BaseNetwork.is_private: straight from the tables (no IPv4-mapped delegation).
  auto both_in = [](const auto& blocks, const auto& x, const auto& y) {
    for (const auto& blk : blocks) {
      if (x.in(blk.net, blk.prefix) && y.in(blk.net, blk.prefix)) return true;
    }
    return false;
  };
  auto either_in = [](const auto& blocks, const auto& x, const auto& y) {
    return detail::in_any(blocks, x) || detail::in_any(blocks, y);
  };
  if (version() == ip_version::v4) {
    f.is_private = both_in(detail::v4_not_global, lo.v4(), hi.v4()) &&
                   !either_in(detail::v4_not_global_exceptions, lo.v4(), hi.v4());
    f.is_global = !(lo.v4().is_shared() && hi.v4().is_shared()) && !f.is_private;
  } else {
    f.is_private = both_in(detail::v6_not_global, lo.v6(), hi.v6()) &&
                   !either_in(detail::v6_not_global_exceptions, lo.v6(), hi.v6());
    f.is_global = !f.is_private;
  }
  return f;
}

bool prefix_for_hosts(ip_version version, uint128 hosts, unsigned& prefix) noexcept {
  const unsigned bits = version == ip_version::v4 ? 32 : 128;
  std::error_code ec;
  for (unsigned p = bits + 1; p-- > 0;) {
    if (subnet::make(ip_address::from_uint(0, version), p, ec).host_count() >= hosts) {
      prefix = p;
      return true;
    }
  }
  return false;
}

}  // namespace sockit::net
