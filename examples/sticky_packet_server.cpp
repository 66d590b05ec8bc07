// The seeds' sticky-packet (粘包) server, fixed: each message is a 4-byte big-endian length,
// a JSON header and a body, and codec::decoder separates messages however recv() cuts them.
// Usage: sticky_packet_server [ENDPOINT] [COUNT]  (default 127.0.0.1:8888; exits after COUNT
// clients, default 1, so it never hangs a script)
#include <cstdio>
#include <cstdlib>
#include <sockit/codec/frame.hpp>
#include <sockit/net/socket.hpp>
#include <string>
#include <vector>

namespace net = sockit::net;
namespace codec = sockit::codec;

int main(int argc, char** argv) {
  std::error_code ec;
  std::string why;
  auto server =
      net::socket::listen(net::endpoint::parse(argc > 1 ? argv[1] : "127.0.0.1:8888"), ec, &why);
  if (ec) {
    std::fprintf(stderr, "sticky_packet_server: %s\n", why.c_str());
    return 1;
  }
  int clients = argc > 2 ? std::atoi(argv[2]) : 1;
  std::printf("listening on %s\n", server.local_address().to_string().c_str());
  std::fflush(stdout);
  for (int c = 0; c < clients; ++c) {
    net::socket conn = server.accept(nullptr, ec);
    if (ec) continue;
    codec::decoder decoder;  // one per connection: it remembers a frame cut in half
    std::vector<codec::frame> frames;
    char buf[1024];
    for (;;) {
      auto n = conn.recv(std::as_writable_bytes(std::span(buf)), ec);
      if (ec || n == 0) break;  // the seeds' `if not data: break`
      std::printf("recv() returned %zu bytes\n", n);
      if (!decoder.feed(std::string_view(buf, n), frames, ec)) {
        std::fprintf(stderr, "bad frame: %s\n", ec.message().c_str());
        break;
      }
      for (auto& f : frames) {
        std::printf("  message %s: %s\n", f.header.fields.dump().c_str(), f.body.c_str());
      }
      frames.clear();
    }
    std::fflush(stdout);
  }
  return 0;
}
