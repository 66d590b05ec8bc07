// The seeds' UDP server: recvfrom a datagram, sendto the sender its msg.upper().
// Usage: udp_server [ENDPOINT]   (default 127.0.0.1:8080)
#include <cstdio>
#include <sockit/net/socket.hpp>
#include <string>

namespace net = sockit::net;
using net::as_bytes;
using net::endpoint;
using net::socket_address;
using net::transport;

int main(int argc, char** argv) {
  std::error_code ec;
  std::string why;
  net::socket s =
      net::socket::bind_datagram(endpoint::parse(argc > 1 ? argv[1] : "127.0.0.1:8080"), ec, &why);
  if (ec) {
    std::fprintf(stderr, "udp_server: %s\n", why.c_str());
    return 1;
  }
  std::printf("listening on %s\n", s.local_address().to_string(transport::udp).c_str());
  std::fflush(stdout);
  char buf[1024];
  for (;;) {
    socket_address from;
    std::size_t n = s.recv_from(std::as_writable_bytes(std::span(buf)), from, ec);
    if (ec) continue;
    std::printf("%.*s from %s\n", static_cast<int>(n), buf, from.to_string(transport::udp).c_str());
    std::fflush(stdout);
    for (std::size_t i = 0; i < n; ++i)
      if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] = static_cast<char>(buf[i] - 32);
    s.send_to(std::as_bytes(std::span(buf, n)), from, ec);
  }
}
