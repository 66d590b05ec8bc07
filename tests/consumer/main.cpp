// Uses the installed library: parse an endpoint and print it back.
#include <sockit/net/endpoint.hpp>

#include <cstdio>

int main() {
  auto e = sockit::net::endpoint::parse("[::1]:http");
  std::printf("%s\n", e.to_string().c_str());
  return e.port() == 80 ? 0 : 1;
}
