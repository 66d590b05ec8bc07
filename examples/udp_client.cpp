// The seeds' UDP client: sendto each typed line, print what recvfrom brings back.
// Usage: udp_client [ENDPOINT]   (default 127.0.0.1:8080); ends at EOF on stdin.
#include <cstdio>
#include <iostream>
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
  // A connected UDP socket: send/recv talk to the server only, and an ICMP "port
  // unreachable" surfaces as an error instead of a silent hang.
  net::socket s = net::socket::connect(
      endpoint::parse(argc > 1 ? argv[1] : "127.0.0.1:8080", transport::udp), ec, &why);
  if (ec) {
    std::fprintf(stderr, "udp_client: %s\n", why.c_str());
    return 1;
  }
  std::string line;
  while (std::cout << ">>: " << std::flush, std::getline(std::cin, line)) {
    s.send(as_bytes(line), ec);
    if (ec) break;
    char buf[1024];
    std::size_t n = s.recv(std::as_writable_bytes(std::span(buf)), ec);
    if (ec) {
      std::fprintf(stderr, "udp_client: %s\n", ec.message().c_str());
      return 1;
    }
    std::cout << std::string(buf, n) << "\n";
  }
  std::cout << "\n";
}
