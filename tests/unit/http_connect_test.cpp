// codec::http_connect: the CONNECT request (bracketed IPv6, Basic credentials, no header
// splitting) and the proxy's status line.
#include "sockit/codec/http_connect.hpp"

#include <gtest/gtest.h>

namespace http = sockit::codec::http_connect;

TEST(HttpConnect, Request) {
  EXPECT_EQ(http::encode_request("example.org", 443),
            "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n");
  EXPECT_EQ(http::encode_request("::1", 22), "CONNECT [::1]:22 HTTP/1.1\r\nHost: [::1]:22\r\n\r\n");
  // RFC 7617's example: Aladdin / open sesame.
  EXPECT_NE(http::encode_request("h", 1, "Aladdin", "open sesame")
                .find("Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"),
            std::string::npos);
  EXPECT_TRUE(http::encode_request("h\r\nX-Evil: 1", 1).empty());
  EXPECT_TRUE(http::encode_request("h", 1, "u\n", "p").empty());
  EXPECT_TRUE(http::encode_request("", 1).empty());
}

TEST(HttpConnect, HeadEnd) {
  EXPECT_EQ(http::head_end("HTTP/1.1 200 OK\r\n"), 0u);
  EXPECT_EQ(http::head_end("HTTP/1.1 200 OK\r\n\r\nSSH-2.0"), 19u);
  EXPECT_EQ(http::head_end("HTTP/1.0 200 OK\n\nx"), 17u);
  EXPECT_EQ(http::head_end("HTTP/1.1 200 OK\r\nVia: p\r\n\r\n"), 27u);
}

TEST(HttpConnect, StatusLine) {
  http::response r;
  std::string why;
  ASSERT_TRUE(http::parse_response("HTTP/1.1 200 Connection established\r\n\r\n", r, why));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.reason, "Connection established");
  ASSERT_TRUE(
      http::parse_response("HTTP/1.0 407 Proxy Authentication Required\r\nX: y\r\n\r\n", r, why));
  EXPECT_EQ(r.status, 407);
  ASSERT_TRUE(http::parse_response("HTTP/1.1 200\r\n\r\n", r, why));
  EXPECT_EQ(r.reason, "");
  EXPECT_FALSE(http::parse_response("SSH-2.0-OpenSSH\r\n\r\n", r, why));
  EXPECT_FALSE(http::parse_response("HTTP/1.1 2x0 OK\r\n\r\n", r, why));
  EXPECT_FALSE(http::parse_response("HTTP/1.1 2000 OK\r\n\r\n", r, why));
  EXPECT_FALSE(http::parse_response("HTTP/1.1 099 OK\r\n\r\n", r, why));
  EXPECT_FALSE(why.empty());
}
