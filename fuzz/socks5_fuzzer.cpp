// libFuzzer target for the SOCKS5 parsers (codec/socks5.hpp), both the server's (greeting,
// credentials, request) and the client's (method choice, auth status, reply). Properties: a
// parse never asks for fewer bytes than it was given nor claims more than it has; a
// complete message re-encodes to the bytes it was parsed from; and feeding a prefix gives
// "incomplete" or the same verdict, never a different complete message.
#include "fuzz_check.hpp"
#include "sockit/codec/socks5.hpp"

namespace socks5 = sockit::codec::socks5;

namespace {

void check_shape(const socks5::parse_result& r, std::size_t have) {
  if (r.state == socks5::status::complete) FUZZ_CHECK(r.size >= 2 && r.size <= have);
  if (r.state == socks5::status::incomplete)
    FUZZ_CHECK(r.size > have && r.size <= 3 + 1 + 255 + 2 + 255);
  if (r.state == socks5::status::invalid) FUZZ_CHECK(r.why != nullptr && r.why[0] != '\0');
}

bool same_bytes(const std::vector<std::uint8_t>& a, socks5::bytes b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const socks5::bytes in(data + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      socks5::greeting g;
      auto r = socks5::parse_greeting(in, g);
      check_shape(r, in.size());
      if (r.state == socks5::status::complete) FUZZ_CHECK(g.methods.size() == r.size - 2);
      break;
    }
    case 1: {
      socks5::credentials c;
      auto r = socks5::parse_credentials(in, c);
      check_shape(r, in.size());
      if (r.state == socks5::status::complete && !c.user.empty() && !c.password.empty())
        FUZZ_CHECK(same_bytes(socks5::encode_credentials(c), in.first(r.size)));
      break;
    }
    case 2: {
      socks5::request req;
      auto r = socks5::parse_request(in, req);
      check_shape(r, in.size());
      if (r.state == socks5::status::complete) {
        // A name that passed is printable, without spaces: safe for a resolver and a log.
        if (req.dst.type == socks5::address::kind::domain)
          for (char c : req.dst.host) FUZZ_CHECK(c > 0x20 && c < 0x7f);
        auto again = socks5::encode_request(static_cast<socks5::command>(req.cmd), req.dst);
        // RSV is not kept: compare the rest.
        FUZZ_CHECK(again.size() == r.size);
        FUZZ_CHECK(std::equal(again.begin() + 3, again.end(), in.begin() + 3));
      }
      // A prefix is never a different complete message.
      if (in.size() > 1) {
        socks5::request part;
        auto p = socks5::parse_request(in.first(in.size() - 1), part);
        if (r.state == socks5::status::complete && r.size < in.size())
          FUZZ_CHECK(p.state == socks5::status::complete && p.size == r.size);
        if (p.state == socks5::status::complete) FUZZ_CHECK(r.state == socks5::status::complete);
      }
      break;
    }
    case 3: {
      socks5::method m{};
      check_shape(socks5::parse_method_choice(in, m), in.size());
      break;
    }
    case 4: {
      bool ok = false;
      check_shape(socks5::parse_auth_status(in, ok), in.size());
      break;
    }
    default: {
      std::uint8_t code = 0;
      socks5::address bound;
      auto r = socks5::parse_reply(in, code, bound);
      check_shape(r, in.size());
      if (r.state == socks5::status::complete) {
        (void)socks5::reply_text(code);
        (void)bound.to_string();
      }
      break;
    }
  }
  return 0;
}
