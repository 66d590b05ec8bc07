// The seeds' sticky-packet (粘包) client: several messages sent back to back, which TCP may
// deliver glued together; each is framed (length | JSON header | body) so the server can
// split them again. Usage: sticky_packet_client ENDPOINT [MESSAGE...]
#include <cstdio>
#include <sockit/codec/frame.hpp>
#include <sockit/net/socket.hpp>
#include <string>

namespace net = sockit::net;
namespace codec = sockit::codec;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: sticky_packet_client ENDPOINT [MESSAGE...]\n");
    return 2;
  }
  std::error_code ec;
  std::string why;
  auto sock = net::socket::connect(net::endpoint::parse(argv[1]), ec, &why);
  if (ec) {
    std::fprintf(stderr, "sticky_packet_client: %s\n", why.c_str());
    return 1;
  }
  std::string wire;
  if (argc == 2) {
    codec::append_frame(wire, nlohmann::json{{"n", 1}}, "hello");
    codec::append_frame(wire, nlohmann::json{{"n", 2}}, "world");
  }
  for (int i = 2; i < argc; ++i) codec::append_frame(wire, nlohmann::json{{"n", i - 1}}, argv[i]);
  sock.send_all(net::as_bytes(wire), ec);  // all at once: the worst case for boundaries
  if (ec) {
    std::fprintf(stderr, "send: %s\n", ec.message().c_str());
    return 1;
  }
  std::printf("sent %zu bytes of framed messages\n", wire.size());
  return 0;
}
