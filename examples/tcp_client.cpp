// The seeds' TCP client: connect, then send each typed line and print the reply.
// Usage: tcp_client [ENDPOINT]   (default 127.0.0.1:8888); ends at EOF on stdin.
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
  net::socket s =
      net::socket::connect(endpoint::parse(argc > 1 ? argv[1] : "127.0.0.1:8888"), ec, &why);
  if (ec) {
    std::fprintf(stderr, "tcp_client: %s\n", why.c_str());
    return 1;
  }
  std::string line;
  while (std::cout << ">>: " << std::flush, std::getline(std::cin, line)) {
    if (line.empty()) continue;  // the seeds skip empty input: send(b'') would send nothing
    s.send_all(as_bytes(line), ec);
    if (ec) break;
    char buf[1024];
    std::size_t n = s.recv(std::as_writable_bytes(std::span(buf)), ec);
    if (ec || n == 0) break;
    std::cout << std::string(buf, n) << "\n";
  }
  std::cout << "\n";
}
