// libFuzzer target for the address parsers, with the C library as the oracle: the strict
// parsers must accept exactly what inet_pton accepts and give the same bytes, parse_aton
// exactly what glibc's inet_aton accepts; formatting round-trips and matches inet_ntop.
#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "fuzz_check.hpp"
#include "sockit/net/address.hpp"

namespace {

using sockit::net::ip_address;
using sockit::net::ipv4_address;
using sockit::net::ipv6_address;

void check_v4_text(const ipv4_address& a) {
  std::string s = a.to_string();
  char buf[ipv4_address::max_text_length];
  FUZZ_CHECK(s.size() <= ipv4_address::max_text_length);
  FUZZ_CHECK(std::string(buf, a.format(buf)) == s);
  std::error_code ec;
  FUZZ_CHECK(ipv4_address::parse(s, ec) == a && !ec);
  in_addr raw{};
  raw.s_addr = htonl(a.to_uint());
  char sys[INET_ADDRSTRLEN];
  FUZZ_CHECK(inet_ntop(AF_INET, &raw, sys, sizeof sys) != nullptr && s == sys);
}

void check_v6_text(const ipv6_address& a) {
  std::string s = a.to_string();
  char buf[ipv6_address::max_text_length];
  FUZZ_CHECK(s.size() <= 39);  // RFC 5952 text, mapped tails included, is never longer
  FUZZ_CHECK(std::string(buf, a.format(buf)) == s);
  std::error_code ec;
  FUZZ_CHECK(ipv6_address::parse(s, ec) == a && !ec);
  // glibc also writes ::a.b.c.d for the deprecated IPv4-compatible block, sockit does not
  // (RFC 5952 section 5 names only the mapped form), so compare outside ::/96.
  if ((a.to_uint() >> 32) != 0) {
    auto bytes = a.to_bytes();
    char sys[INET6_ADDRSTRLEN];
    FUZZ_CHECK(inet_ntop(AF_INET6, bytes.data(), sys, sizeof sys) != nullptr && s == sys);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sockit_fuzz::as_text(data, size);
  const bool has_nul = text.find('\0') != std::string_view::npos;
  const std::string z(text);  // for the C functions, which stop at a NUL

  // Any 4 or 16 bytes format like inet_ntop and parse back.
  if (size >= 4) {
    ipv4_address::bytes_type b4;
    std::memcpy(b4.data(), data, 4);
    check_v4_text(ipv4_address{b4});
  }
  if (size >= 16) {
    ipv6_address::bytes_type b6;
    std::memcpy(b6.data(), data, 16);
    check_v6_text(ipv6_address{b6});
  }

  std::error_code ec, ec_why;
  std::string why;
  in_addr sys4{};
  ipv4_address strict = ipv4_address::parse(text, ec);
  FUZZ_CHECK(ipv4_address::parse(text, ec_why, why) == strict && ec_why == ec);
  FUZZ_CHECK(!ec || !why.empty());
  const bool pton4 = !has_nul && inet_pton(AF_INET, z.c_str(), &sys4) == 1;
  FUZZ_CHECK(!ec == pton4);
  if (!ec) {
    FUZZ_CHECK(strict.to_uint() == ntohl(sys4.s_addr));
    FUZZ_CHECK(strict.to_string() == text);  // strict text is canonical text
  }

  std::error_code aec;
  ipv4_address lenient = ipv4_address::parse_aton(text, aec);
  FUZZ_CHECK(ipv4_address::parse_aton(text, ec_why, why) == lenient && ec_why == aec);
  if (has_nul) {
    FUZZ_CHECK(aec);  // documented: sockit refuses what inet_aton would silently cut
  } else {
    in_addr sys{};
    const bool aton = inet_aton(z.c_str(), &sys) != 0;
    FUZZ_CHECK(!aec == aton);
    if (!aec) FUZZ_CHECK(lenient.to_uint() == ntohl(sys.s_addr));
  }
  if (!ec) FUZZ_CHECK(!aec && lenient == strict);  // strict is a subset of lenient

  std::error_code ec6;
  ipv6_address v6 = ipv6_address::parse(text, ec6);
  FUZZ_CHECK(ipv6_address::parse(text, ec_why, why) == v6 && ec_why == ec6);
  unsigned char sys6[16];
  const bool pton6 = !has_nul && inet_pton(AF_INET6, z.c_str(), sys6) == 1;
  FUZZ_CHECK(!ec6 == pton6);
  if (!ec6) {
    auto b = v6.to_bytes();
    FUZZ_CHECK(std::memcmp(b.data(), sys6, 16) == 0);
    check_v6_text(v6);
  }

  std::error_code eca;
  ip_address any = ip_address::parse(text, eca);
  if (text.find(':') != std::string_view::npos) {
    FUZZ_CHECK(!eca == !ec6);
    if (!eca) FUZZ_CHECK(any.is_v6() && any.v6() == v6);
  } else {
    FUZZ_CHECK(!eca == !ec);
    if (!eca) FUZZ_CHECK(any.is_v4() && any.v4() == strict);
  }
  if (!eca) {
    FUZZ_CHECK(ip_address::parse(any.to_string(), eca) == any && !eca);
    char buf[45];
    FUZZ_CHECK(std::string(buf, any.format(buf)) == any.to_string());
  }
  return 0;
}
