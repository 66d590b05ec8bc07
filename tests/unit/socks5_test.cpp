// codec::socks5: every message round-trips; a parse asks for exactly the bytes still
// missing and never for more than the message; bad versions, address types and names are
// refused with the reply RFC 1928 gives them.
#include "sockit/codec/socks5.hpp"

#include <gtest/gtest.h>

namespace socks5 = sockit::codec::socks5;
using socks5::status;

namespace {

std::vector<std::uint8_t> v(std::initializer_list<int> b) {
  std::vector<std::uint8_t> out;
  for (int x : b) out.push_back(static_cast<std::uint8_t>(x));
  return out;
}

// Feeds `msg` to `parse` as a reader would: only ever `size` bytes, never more.
template <class Parse>
socks5::parse_result read_like_a_reader(const std::vector<std::uint8_t>& msg, Parse parse) {
  std::vector<std::uint8_t> buf;
  for (int step = 0; step < 10; ++step) {
    auto r = parse(socks5::bytes(buf));
    if (r.state != status::incomplete) return r;
    EXPECT_GT(r.size, buf.size());
    EXPECT_LE(r.size, msg.size()) << "asked for bytes past the message";
    buf.assign(msg.begin(), msg.begin() + static_cast<long>(std::min(r.size, msg.size())));
  }
  ADD_FAILURE() << "no answer after 10 reads";
  return {};
}

}  // namespace

TEST(Socks5, GreetingRoundTrip) {
  for (bool password : {false, true}) {
    socks5::greeting g;
    auto r = read_like_a_reader(socks5::encode_greeting(password),
                                [&](socks5::bytes b) { return socks5::parse_greeting(b, g); });
    ASSERT_EQ(r.state, status::complete);
    EXPECT_TRUE(g.offers(socks5::method::none));
    EXPECT_EQ(g.offers(socks5::method::user_password), password);
  }
}

TEST(Socks5, GreetingRefusals) {
  socks5::greeting g;
  EXPECT_EQ(socks5::parse_greeting(v({4, 1, 0}), g).state, status::invalid);  // SOCKS4
  EXPECT_EQ(socks5::parse_greeting(v({5, 0}), g).state, status::invalid);     // no methods
  auto r = socks5::parse_greeting(v({5, 255}), g);
  EXPECT_EQ(r.state, status::incomplete);
  EXPECT_EQ(r.size, 257u);
}

TEST(Socks5, CredentialsRoundTripAndLimits) {
  socks5::credentials in{"alice", "pa:ss word"}, out;
  auto r = read_like_a_reader(socks5::encode_credentials(in),
                              [&](socks5::bytes b) { return socks5::parse_credentials(b, out); });
  ASSERT_EQ(r.state, status::complete);
  EXPECT_EQ(out.user, "alice");
  EXPECT_EQ(out.password, "pa:ss word");
  EXPECT_TRUE(socks5::encode_credentials({"", "x"}).empty());
  EXPECT_TRUE(socks5::encode_credentials({std::string(256, 'u'), "x"}).empty());
  EXPECT_FALSE(socks5::encode_credentials({std::string(255, 'u'), std::string(255, 'p')}).empty());
}

TEST(Socks5, RequestRoundTripEveryAddressType) {
  const socks5::address dsts[] = {
      {socks5::address::kind::ipv4, "127.0.0.1", 80},
      {socks5::address::kind::ipv6, "2001:db8::7", 65535},
      {socks5::address::kind::domain, "example.org", 443},
  };
  for (const auto& dst : dsts) {
    socks5::request req;
    auto wire = socks5::encode_request(socks5::command::connect, dst);
    auto r =
        read_like_a_reader(wire, [&](socks5::bytes b) { return socks5::parse_request(b, req); });
    ASSERT_EQ(r.state, status::complete) << dst.to_string();
    EXPECT_EQ(r.size, wire.size());
    EXPECT_EQ(req.cmd, 1);
    EXPECT_EQ(req.dst.type, dst.type);
    EXPECT_EQ(req.dst.host, dst.host);
    EXPECT_EQ(req.dst.port, dst.port);
  }
  EXPECT_EQ((socks5::address{socks5::address::kind::ipv6, "::1", 8}.to_string()), "[::1]:8");
}

TEST(Socks5, RequestRefusalsCarryTheirReply) {
  socks5::request req;
  auto r = socks5::parse_request(v({5, 1, 0, 9, 1, 2, 3, 4, 0, 80}), req);
  EXPECT_EQ(r.state, status::invalid);
  EXPECT_EQ(r.code, socks5::reply::address_type_not_supported);
  r = socks5::parse_request(v({5, 1, 0, 3, 0, 0, 80}), req);  // an empty name
  EXPECT_EQ(r.state, status::invalid);
  EXPECT_EQ(r.code, socks5::reply::host_unreachable);
  r = socks5::parse_request(v({5, 1, 0, 3, 3, 'a', '\n', 'b', 0, 80}), req);  // a control byte
  EXPECT_EQ(r.state, status::invalid);
  r = socks5::parse_request(v({5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80}), req);  // a NUL
  EXPECT_EQ(r.state, status::invalid);
  // BIND parses (so the server can answer "command not supported").
  r = socks5::parse_request(v({5, 2, 0, 1, 10, 0, 0, 1, 0, 21}), req);
  EXPECT_EQ(r.state, status::complete);
  EXPECT_EQ(req.cmd, 2);
  EXPECT_TRUE(socks5::encode_request(socks5::command::connect,
                                     {socks5::address::kind::domain, std::string(256, 'a'), 1})
                  .empty());
}

TEST(Socks5, ReplyRoundTripAndUnparsableBound) {
  std::uint8_t code = 99;
  socks5::address bound;
  auto wire = socks5::encode_reply(socks5::reply::succeeded,
                                   {socks5::address::kind::ipv4, "10.1.2.3", 4242});
  auto r = read_like_a_reader(wire,
                              [&](socks5::bytes b) { return socks5::parse_reply(b, code, bound); });
  ASSERT_EQ(r.state, status::complete);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(bound.to_string(), "10.1.2.3:4242");
  // A name or garbage as BND is sent as 0.0.0.0:0, never as a name.
  wire = socks5::encode_reply(socks5::reply::connection_refused,
                              {socks5::address::kind::domain, "x", 1});
  EXPECT_EQ(wire, v({5, 5, 0, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(socks5::reply_text(5), "connection refused");
  EXPECT_EQ(socks5::reply_text(200), "unknown reply 200");
}

TEST(Socks5, MethodChoiceAndAuthStatus) {
  socks5::method m{};
  EXPECT_EQ(
      socks5::parse_method_choice(socks5::encode_method_choice(socks5::method::no_acceptable), m)
          .state,
      status::complete);
  EXPECT_EQ(m, socks5::method::no_acceptable);
  bool ok = true;
  EXPECT_EQ(socks5::parse_auth_status(socks5::encode_auth_status(false), ok).state,
            status::complete);
  EXPECT_FALSE(ok);
  EXPECT_EQ(socks5::parse_auth_status(v({5, 0}), ok).state, status::invalid);
}
