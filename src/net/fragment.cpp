// Input checks for fragmentation plans; the arithmetic is in the header.
#include "sockit/net/fragment.hpp"

#include "sockit/net/error.hpp"

namespace sockit::net {

fragmentation fragmentation::plan(ip_version version, std::uint32_t packet_size, std::uint32_t mtu,
                                  std::uint32_t header, std::error_code& ec, std::string* why) {
  auto bad = [&](std::string text) {
    ec = make_error_code(errc::invalid_size);
    if (why) *why = std::move(text);
    return fragmentation{};
  };
  auto n = [](std::uint32_t v) { return std::to_string(v); };
  if (version == ip_version::v4) {
    if (header < 20 || header > 60 || header % 4 != 0) {
      return bad("IPv4 header length " + n(header) +
                 " is not 20-60 in steps of 4 (its IHL field counts 32-bit words)");
    }
    if (packet_size > 65535) {
      return bad("IPv4 packet size " + n(packet_size) +
                 " is more than 65535, the largest its 16-bit Total Length can say");
    }
    if (mtu < 68) {
      return bad("MTU " + n(mtu) + " is below 68, the smallest every IPv4 link must carry " +
                 "(RFC 791)");
    }
  } else {
    if (header < 40 || header % 8 != 0) {
      return bad("IPv6 header length " + n(header) +
                 " must be 40 plus extension headers, a multiple of 8");
    }
    if (packet_size > 65535 + 40) {
      return bad("IPv6 packet size " + n(packet_size) +
                 " is more than 65575: the 16-bit Payload Length allows 65535 after the 40-byte " +
                 "header (jumbograms aside)");
    }
    if (mtu < 1280) {
      return bad("MTU " + n(mtu) +
                 " is below 1280, the minimum for IPv6 links (RFC 8200 section 5)");
    }
  }
  if (mtu > 65535 + 40) return bad("MTU " + n(mtu) + " is larger than any IP packet can be");
  if (packet_size < header) {
    return bad("packet size " + n(packet_size) + " is smaller than its own " + n(header) +
               "-byte header");
  }
  const std::uint32_t frag_header = version == ip_version::v6 ? ipv6_fragment_header : 0;
  if (packet_size > mtu && mtu < header + frag_header + 8) {
    return bad("MTU " + n(mtu) + " leaves no room for 8 payload bytes after a " +
               n(header + frag_header) + "-byte header");
  }
  fragmentation f;
  f.version_ = version;
  f.size_ = packet_size;
  f.mtu_ = mtu;
  f.header_ = header;
  ec.clear();
  return f;
}

}  // namespace sockit::net
