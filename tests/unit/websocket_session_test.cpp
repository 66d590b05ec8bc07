// session/websocket.hpp's pure rules: which Origin and which Host may open the WebSocket.
// (Its reads, writes and the connection are tested end to end: test_chat_web.py.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sockit/session/websocket.hpp"

namespace wss = sockit::session::websocket;

namespace {

sockit::codec::websocket::request with(std::string host, std::string origin) {
  sockit::codec::websocket::request r;
  r.host = std::move(host);
  r.origin = std::move(origin);
  return r;
}

}  // namespace

TEST(WebSocketOrigin, SameOriginNoneOrListed) {
  const std::vector<std::string> none, listed{"https://chat.example"}, any{"*"};
  EXPECT_TRUE(wss::origin_allowed(with("127.0.0.1:8080", ""), false, none));  // not a browser
  EXPECT_TRUE(wss::origin_allowed(with("127.0.0.1:8080", "http://127.0.0.1:8080"), false, none));
  EXPECT_TRUE(wss::origin_allowed(with("Chat.Example", "https://chat.example"), true, none));
  EXPECT_FALSE(wss::origin_allowed(with("127.0.0.1:8080", "https://127.0.0.1:8080"), false, none));
  EXPECT_FALSE(wss::origin_allowed(with("127.0.0.1:8080", "http://127.0.0.1:8081"), false, none));
  EXPECT_FALSE(wss::origin_allowed(with("127.0.0.1:8080", "http://evil.example"), false, none));
  EXPECT_FALSE(wss::origin_allowed(with("127.0.0.1:8080", "null"), false, none));
  EXPECT_FALSE(wss::origin_allowed(with("", "http://127.0.0.1:8080"), false, none));
  EXPECT_TRUE(wss::origin_allowed(with("x", "https://chat.example"), false, listed));
  EXPECT_FALSE(wss::origin_allowed(with("x", "https://chat.example.evil"), false, listed));
  EXPECT_TRUE(wss::origin_allowed(with("x", "http://anything"), false, any));
}

TEST(WebSocketHost, LoopbackListenerTakesLoopbackNamesOnly) {
  const std::vector<std::string> none, listed{"https://chat.example"}, any{"*"};
  for (const char* h : {"127.0.0.1", "127.0.0.1:8080", "127.1.2.3:1", "localhost:8080", "LOCALHOST",
                        "[::1]", "[::1]:8080"})
    EXPECT_TRUE(wss::host_allowed(h, true, none)) << h;
  for (const char* h : {"", "evil.example:8080", "10.0.0.1:8080", "[::2]:80", "[::1", "[::1]x",
                        "localhost.evil.example", "127.0.0.1.evil.example"})
    EXPECT_FALSE(wss::host_allowed(h, true, none)) << h;
  EXPECT_TRUE(wss::host_allowed("chat.example", true, listed));
  EXPECT_TRUE(wss::host_allowed("chat.example:443", true, listed));
  EXPECT_FALSE(wss::host_allowed("evil.example", true, listed));
  EXPECT_TRUE(wss::host_allowed("evil.example", true, any));
  EXPECT_TRUE(wss::host_allowed("evil.example", false, none));  // not loopback: the operator's
}
