// libFuzzer target for endpoint parsing: an accepted endpoint's canonical text parses back
// to the same endpoint and prints the same; the three parse forms agree.
#include <string>

#include "fuzz_check.hpp"
#include "sockit/net/endpoint.hpp"

using sockit::net::endpoint;
using sockit::net::transport;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // First byte: the fallback transport, so udp is exercised as much as tcp.
  const transport fallback = (data[0] & 1) ? transport::udp : transport::tcp;
  const std::string_view text = sockit_fuzz::as_text(data + 1, size - 1);
  std::error_code ec, ec_why;
  std::string why;
  const endpoint e = endpoint::parse(text, ec, fallback);
  FUZZ_CHECK(endpoint::parse(text, ec_why, why, fallback) == e && ec_why == ec);
  if (ec) {
    FUZZ_CHECK(!why.empty());
    FUZZ_CHECK(e == endpoint{});
    return 0;
  }
  if (e.is_unix()) {
    FUZZ_CHECK(!e.path().empty() && e.path().size() <= endpoint::max_unix_path);
    FUZZ_CHECK(e.path().find('\0') == std::string::npos);
  }
  const std::string canonical = e.to_string();
  std::error_code ec2;
  // Canonical text carries its transport, so the fallback no longer matters.
  const endpoint back =
      endpoint::parse(canonical, ec2, fallback == transport::tcp ? transport::udp : transport::tcp);
  FUZZ_CHECK(!ec2);
  FUZZ_CHECK(back == e);
  FUZZ_CHECK(back.to_string() == canonical);
  return 0;
}
