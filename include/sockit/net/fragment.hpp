// IP fragmentation arithmetic (RFC 791 for IPv4, RFC 8200 for IPv6), with the Ethernet frame
// and TCP MSS figures that go with an MTU. Pure arithmetic: constexpr, no allocation.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include "sockit/net/address.hpp"

namespace sockit::net {

/// One fragment as it leaves the sender.
struct ip_fragment {
  std::uint32_t index = 0;
  std::uint32_t total_length = 0;   // the IP packet length (header included)
  std::uint32_t header_length = 0;  // IP header (+ IPv6 Fragment header when fragmented)
  std::uint32_t payload = 0;        // bytes of the original payload carried
  std::uint32_t offset_bytes = 0;   // where that payload starts in the original
  bool more_fragments = false;      // MF flag (IPv4) / M flag (IPv6)
  /// The 13-bit Fragment Offset field: the offset in units of 8 bytes.
  constexpr std::uint32_t offset_field() const noexcept { return offset_bytes / 8; }
  /// The Ethernet II frame: 14-byte header + payload padded to 46 + 4-byte FCS (64..1518
  /// for a 1500 MTU).
  constexpr std::uint32_t ethernet_frame() const noexcept {
    return 14 + (total_length < 46 ? 46 : total_length) + 4;
  }
};

class fragmentation {
 public:
  /// Ethernet's header + FCS around the IP packet, and the minimum frame payload.
  static constexpr std::uint32_t ethernet_overhead = 18;
  static constexpr std::uint32_t ipv6_fragment_header = 8;

  /// Plans sending one IP packet of `packet_size` bytes (header included) whose header is
  /// `header` bytes (IPv4: 20-60, a multiple of 4; IPv6: 40 plus extension headers, a multiple
  /// of 8) over a link with `mtu`. On bad input sets `ec` (sockit::errc::invalid_size) and
  /// `why` says which value and why.
  static fragmentation plan(ip_version version, std::uint32_t packet_size, std::uint32_t mtu,
                            std::uint32_t header, std::error_code& ec, std::string* why = nullptr);
  /// The default header: 20 for IPv4, 40 for IPv6.
  static constexpr std::uint32_t default_header(ip_version v) noexcept {
    return v == ip_version::v4 ? 20 : 40;
  }

  constexpr ip_version version() const noexcept { return version_; }
  constexpr std::uint32_t packet_size() const noexcept { return size_; }
  constexpr std::uint32_t mtu() const noexcept { return mtu_; }
  constexpr std::uint32_t header() const noexcept { return header_; }
  /// The bytes after the (unfragmentable) header: what the fragments share out.
  constexpr std::uint32_t payload() const noexcept { return size_ - header_; }
  constexpr bool needs_fragmentation() const noexcept { return size_ > mtu_; }
  /// Payload bytes in each fragment but the last: what fits, rounded down to a multiple of 8.
  constexpr std::uint32_t max_fragment_payload() const noexcept {
    const std::uint32_t room =
        mtu_ - header_ - (version_ == ip_version::v6 ? ipv6_fragment_header : 0);
    return room / 8 * 8;
  }
  constexpr std::uint32_t count() const noexcept {
    if (!needs_fragmentation()) return 1;
    const std::uint32_t per = max_fragment_payload();
    return (payload() + per - 1) / per;
  }
  constexpr ip_fragment at(std::uint32_t i) const noexcept {
    ip_fragment f;
    f.index = i;
    if (!needs_fragmentation()) {
      f.total_length = size_;
      f.header_length = header_;
      f.payload = payload();
      return f;
    }
    const std::uint32_t per = max_fragment_payload();
    f.offset_bytes = i * per;
    f.payload = i + 1 < count() ? per : payload() - f.offset_bytes;
    f.more_fragments = i + 1 < count();
    f.header_length = header_ + (version_ == ip_version::v6 ? ipv6_fragment_header : 0);
    f.total_length = f.header_length + f.payload;
    return f;
  }
  /// Bytes on the wire for all fragments' IP packets, and the extra cost of fragmenting.
  constexpr std::uint64_t total_ip_bytes() const noexcept {
    std::uint64_t sum = 0;
    for (std::uint32_t i = 0; i < count(); ++i) sum += at(i).total_length;
    return sum;
  }
  /// TCP's maximum segment size on this MTU: MTU - IP header - 20-byte TCP header.
  constexpr std::uint32_t tcp_mss() const noexcept {
    return mtu_ > header_ + 20 ? mtu_ - header_ - 20 : 0;
  }
  /// Largest UDP payload that needs no fragmentation: MTU - IP header - 8.
  constexpr std::uint32_t udp_max_unfragmented() const noexcept {
    return mtu_ > header_ + 8 ? mtu_ - header_ - 8 : 0;
  }

 private:
  ip_version version_ = ip_version::v4;
  std::uint32_t size_ = 0, mtu_ = 0, header_ = 0;
};

}  // namespace sockit::net
