// A downstream program on sockit::sockit, built by both consumer tests (find_package of the
// installed library, add_subdirectory of the source tree): one call into each layer, so a
// usage requirement missing from a layer (an include directory, a library its headers or
// objects need) fails here. Prints the endpoint; the exit status says whether all agreed.
#include <sockit/codec/frame.hpp>
#include <sockit/net/endpoint.hpp>
#include <sockit/service/transfer_fs.hpp>
#include <sockit/session/deadline.hpp>
#include <sockit/version.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>

int main() {
  auto e = sockit::net::endpoint::parse("[::1]:http");          // net
  std::string frame = sockit::codec::encode({{"op", "ping"}});  // codec: nlohmann_json
  sockit::session::deadline d;                                  // session: Asio headers
  d.expires_after(std::chrono::hours(1));
  std::error_code ec;
  auto parts = sockit::service::split_safe_name("a/b.txt", ec);                // service
  std::string partial = sockit::service::partial_name(std::string(300, 'x'));  // xxHash
  std::printf("%s\n", e.to_string().c_str());
  const bool ok = e.port() == 80 && frame.size() > 4 && !d.expired() && !ec && parts.size() == 2 &&
                  partial.size() <= 255 && sockit::version[0] != '\0';
  return ok ? 0 : 1;
}
