// The seeds' TCP server: socket, bind (with SO_REUSEADDR), listen, then a connection loop
// around a communication loop that sends back msg.upper() until recv returns empty.
// Usage: tcp_server [ENDPOINT]   (default 127.0.0.1:8888, as in the tutorial)
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
  net::socket server =
      net::socket::listen(endpoint::parse(argc > 1 ? argv[1] : "127.0.0.1:8888"), ec, &why);
  if (ec) {
    std::fprintf(stderr, "tcp_server: %s\n", why.c_str());
    return 1;
  }
  std::printf("listening on %s\n", server.local_address().to_string().c_str());
  std::fflush(stdout);
  for (;;) {  // connection loop: one client after another
    socket_address peer;
    net::socket conn = server.accept(&peer, ec);
    if (ec) continue;
    std::printf("client %s\n", peer.to_string().c_str());
    std::fflush(stdout);
    char buf[1024];
    for (;;) {  // communication loop
      std::size_t n = conn.recv(std::as_writable_bytes(std::span(buf)), ec);
      if (ec || n == 0) break;  // recv returned b'': the client closed
      for (std::size_t i = 0; i < n; ++i)
        if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] = static_cast<char>(buf[i] - 32);
      conn.send_all(std::as_bytes(std::span(buf, n)), ec);
      if (ec) break;
    }
  }
}
