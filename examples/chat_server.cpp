// The seeds' two-way chat, server side: accept one client, then take turns: print what the
// client says, send back what the server's user types. Ends when either side closes.
// Usage: chat_server [ENDPOINT]   (default 127.0.0.1:8888)
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
  net::socket server =
      net::socket::listen(endpoint::parse(argc > 1 ? argv[1] : "127.0.0.1:8888"), ec, &why);
  if (ec) {
    std::fprintf(stderr, "chat_server: %s\n", why.c_str());
    return 1;
  }
  std::printf("listening on %s\n", server.local_address().to_string().c_str());
  std::fflush(stdout);
  socket_address peer;
  net::socket conn = server.accept(&peer, ec);
  if (ec) return 1;
  std::string line;
  for (;;) {
    char buf[1024];
    std::size_t n = conn.recv(std::as_writable_bytes(std::span(buf)), ec);
    if (ec || n == 0) break;
    std::cout << "client: " << std::string(buf, n) << "\nserver: " << std::flush;
    if (!std::getline(std::cin, line)) break;
    conn.send_all(as_bytes(line), ec);
    if (ec) break;
  }
  std::cout << "\nchat over\n";
}
