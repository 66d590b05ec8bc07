// chat.hpp: the text rules (neutralize, nick and room names) and a room over loopback.
#include "sockit/service/chat.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "sockit/net/socket.hpp"

namespace {

using sockit::service::check_nick;
using sockit::service::check_room;
using sockit::service::neutralize;

TEST(ChatNeutralize, PlainAndUtf8PassUnchanged) {
  EXPECT_EQ(neutralize("hello, world"), "hello, world");
  EXPECT_EQ(neutralize("你好 ÿ 🎉"), "你好 ÿ 🎉");
}

TEST(ChatNeutralize, ControlsBecomeCaretNotation) {
  EXPECT_EQ(neutralize(std::string("a\0b", 3)), "a^@b");
  EXPECT_EQ(neutralize("\x1b[2J\x1b]0;pwned\x07"), "^[[2J^[]0;pwned^G");
  EXPECT_EQ(neutralize("del\x7f"), "del^?");
  EXPECT_EQ(neutralize("a\tb\rc"), "a b^Mc");
}

TEST(ChatNeutralize, InvalidUtf8AndDangerousCodePointsBecomeReplacement) {
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(neutralize("\xff"), fffd);
  EXPECT_EQ(neutralize("\xc0\xaf"), fffd + fffd);             // overlong '/'
  EXPECT_EQ(neutralize("\xed\xa0\x80"), fffd + fffd + fffd);  // surrogate: each byte replaced
  EXPECT_EQ(neutralize("\xe4\xbd"), fffd + fffd);             // truncated sequence
  EXPECT_EQ(neutralize("\xc2\x9b"
                       "31m"),
            fffd + "31m");  // C1 CSI
  EXPECT_EQ(neutralize("a\xe2\x80\xae"
                       "b"),
            "a" + fffd + "b");  // right-to-left override
}

TEST(ChatNeutralize, OutputNeverHasControlBytesWhateverTheInput) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (int shift = 0; shift < 4; ++shift) {
    std::string out = neutralize(all.substr(static_cast<std::size_t>(shift)) + all);
    for (unsigned char c : out) EXPECT_FALSE(c < 0x20 || c == 0x7f) << int(c);
  }
}

TEST(ChatNames, Nicks) {
  EXPECT_EQ(check_nick("alice"), "");
  EXPECT_EQ(check_nick("Bob_2-x"), "");
  EXPECT_NE(check_nick(""), "");
  EXPECT_NE(check_nick("2bob"), "");
  EXPECT_NE(check_nick("bo b"), "");
  EXPECT_NE(check_nick("bob\x1b"), "");
  EXPECT_NE(check_nick(std::string(25, 'a')), "");
  EXPECT_EQ(check_nick(std::string(24, 'a')), "");
}

TEST(ChatNames, Rooms) {
  EXPECT_EQ(check_room("#lobby"), "");
  EXPECT_EQ(check_room("#a-b_1"), "");
  EXPECT_NE(check_room("lobby"), "");
  EXPECT_NE(check_room("#"), "");
  EXPECT_NE(check_room("#a b"), "");
}

// A tiny blocking line client for the in-process server.
struct client {
  sockit::net::socket s;
  std::string pending;
  std::string line() {
    for (int guard = 0; guard < 100; ++guard) {
      auto nl = pending.find('\n');
      if (nl != std::string::npos) {
        std::string l = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        return l;
      }
      char buf[4096];
      std::error_code ec;
      std::size_t n = s.recv(std::as_writable_bytes(std::span(buf, sizeof buf)), ec);
      if (ec || n == 0) return "<closed>";
      pending.append(buf, n);
    }
    return "<no line>";
  }
  void send(std::string_view text) {
    std::error_code ec;
    s.send_all(sockit::net::as_bytes(text), ec);
  }
};

client connect_to(const sockit::service::chat_server& server) {
  std::error_code ec;
  auto s = sockit::net::socket::connect(server.local_endpoint(), ec);
  EXPECT_FALSE(ec);
  timeval tv{10, 0};  // a broken server fails the test instead of hanging it
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return client{std::move(s), {}};
}

TEST(ChatServer, RelaysToOthersReportsEventsAndSaysGoodbye) {
  sockit::service::chat_options opt;
  opt.endpoint = sockit::net::endpoint::parse("127.0.0.1:0");
  sockit::service::chat_server server(opt);
  std::vector<sockit::service::chat_event::type> events;
  std::mutex mu;
  server.on_event([&](const sockit::service::chat_event& e) {
    std::lock_guard lock(mu);
    events.push_back(e.what);
  });
  server.start();
  client a = connect_to(server);
  EXPECT_NE(a.line().find("welcome to #lobby, guest1"), std::string::npos);
  client b = connect_to(server);
  EXPECT_NE(b.line().find("welcome to #lobby, guest2"), std::string::npos);
  EXPECT_NE(a.line().find("*** guest2 joined #lobby"), std::string::npos);
  b.send("hi \x1b[1mthere\n");
  EXPECT_NE(a.line().find("<guest2> hi ^[[1mthere"), std::string::npos);
  server.stop();
  EXPECT_NE(a.line().find("the room is closing"), std::string::npos);
  EXPECT_EQ(a.line(), "<closed>");
  auto s = server.stats();
  EXPECT_EQ(s.accepted, 2u);
  EXPECT_EQ(s.messages, 1u);
  EXPECT_EQ(s.deliveries, 2u);  // the join notice and the message; replies are not relays
  std::lock_guard lock(mu);
  EXPECT_NE(std::find(events.begin(), events.end(), sockit::service::chat_event::type::message),
            events.end());
}

}  // namespace
