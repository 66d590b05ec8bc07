// known_hosts parsing: never crashes, and what it returns is what a file of exactly those
// entries would give back (a second parse of the re-written entries is the same).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "sockit/service/known_hosts.hpp"
#include "sockit/service/tls_identity.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::size_t bad = 0;
  auto hosts = sockit::service::parse_known_hosts(text, &bad);
  std::string again;
  for (const auto& h : hosts) {
    FUZZ_CHECK(!h.endpoint.empty() && sockit::service::is_fingerprint(h.fingerprint));
    FUZZ_CHECK(h.endpoint.find_first_of(" \t\r\n") == std::string::npos);
    again += h.endpoint + " " + h.fingerprint + "\n";
  }
  std::size_t bad2 = 0;
  auto round = sockit::service::parse_known_hosts(again, &bad2);
  FUZZ_CHECK(bad2 == 0 && round.size() == hosts.size());
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    FUZZ_CHECK(round[i].endpoint == hosts[i].endpoint);
    FUZZ_CHECK(round[i].fingerprint == hosts[i].fingerprint);
  }
  return 0;
}
