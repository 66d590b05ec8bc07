// libFuzzer target for subnet parsing: an accepted subnet prints as text that parses back
// to it, and its derived values (mask, network, host range, count) are consistent.
#include <string>

#include "fuzz_check.hpp"
#include "sockit/net/subnet.hpp"

namespace {

using sockit::net::ip_address;
using sockit::net::ip_version;
using sockit::net::ipv4_address;
using sockit::net::subnet;
using sockit::net::uint128;

void check_subnet(const subnet& s) {
  FUZZ_CHECK(s.prefix() <= s.bits());
  FUZZ_CHECK(s.bits() == (s.version() == ip_version::v4 ? 32u : 128u));
  std::error_code ec;
  const std::string text = s.to_string();
  FUZZ_CHECK(subnet::parse(text, ec) == s && !ec);
  const uint128 all = s.bits() == 32 ? uint128{0xffffffffu} : ~uint128{0};
  FUZZ_CHECK((s.netmask().to_uint() | s.hostmask().to_uint()) == all);
  FUZZ_CHECK((s.netmask().to_uint() & s.hostmask().to_uint()) == 0);
  FUZZ_CHECK(s.contains(s.address()) && s.contains(s.network()) && s.contains(s.last()));
  FUZZ_CHECK(s.network() <= s.address() && s.address() <= s.last());
  FUZZ_CHECK(s.contains(s.first_host()) && s.contains(s.last_host()));
  FUZZ_CHECK(s.first_host() <= s.last_host());
  // hosts() counts first_host..last_host inclusive (::/0 too: 2^128 - 1 fits).
  FUZZ_CHECK(s.host_count() == s.last_host().to_uint() - s.first_host().to_uint() + 1);
  const subnet net = s.network_subnet();
  FUZZ_CHECK(!net.has_host_bits() && net.contains(s) && s.contains(net));
  FUZZ_CHECK(s.has_host_bits() == (s.network() != s.address()));
  if (s.version() == ip_version::v4) {
    unsigned p = 99;
    FUZZ_CHECK(subnet::mask_to_prefix(s.netmask().v4(), p) && p == s.prefix());
    FUZZ_CHECK(s.address_count_u64() == (std::uint64_t{1} << s.host_bits()));
    // ADDR/DOTTED-MASK means the same as ADDR/PREFIX.
    const std::string dotted = s.address().to_string() + "/" + s.netmask().to_string();
    FUZZ_CHECK(subnet::parse(dotted, ec) == s && !ec);
  }
  if (s.prefix() < s.bits()) {
    const subnet half = s.nth_subnet(s.prefix() + 1, 1);
    FUZZ_CHECK(s.contains(half) && !half.contains(s) && half.prefix() == s.prefix() + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sockit_fuzz::as_text(data, size);
  std::error_code ec, ec_why;
  std::string why;
  subnet s = subnet::parse(text, ec);
  subnet again = subnet::parse(text, ec_why, why);
  FUZZ_CHECK(ec == ec_why && s == again);
  FUZZ_CHECK(!ec || !why.empty());
  if (!ec) {
    check_subnet(s);
    // The address part is exactly what ip_address accepts.
    std::error_code aec;
    ip_address a = ip_address::parse(text.substr(0, text.find('/')), aec);
    FUZZ_CHECK(!aec && a == s.address());
    if (text.find('/') == std::string_view::npos) FUZZ_CHECK(s.prefix() == s.bits());
  }
  // The same checks on a subnet built from raw bytes rather than from text.
  if (size >= 17) {
    uint128 v = 0;
    for (std::size_t i = 1; i < 17; ++i) v = v << 8 | data[i];
    const ip_version version = (data[0] & 1) ? ip_version::v6 : ip_version::v4;
    const ip_address a = ip_address::from_uint(v, version);
    std::error_code mec;
    const subnet made = subnet::make(a, data[0] >> 1, mec);
    FUZZ_CHECK(!mec == ((data[0] >> 1) <= a.bits()));
    if (!mec) check_subnet(made);
  }
  return 0;
}
