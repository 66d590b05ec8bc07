// Test that the header is self-contained: it comes first.
#include "sockit/net/socket_address.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace sockit::net {
namespace {

socket_address v4(const char* host, std::uint16_t port) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  inet_pton(AF_INET, host, &in.sin_addr);
  return socket_address(reinterpret_cast<const sockaddr*>(&in), sizeof in);
}

socket_address v6(const char* host, std::uint16_t port) {
  sockaddr_in6 in{};
  in.sin6_family = AF_INET6;
  in.sin6_port = htons(port);
  inet_pton(AF_INET6, host, &in.sin6_addr);
  return socket_address(reinterpret_cast<const sockaddr*>(&in), sizeof in);
}

TEST(SocketAddress, DefaultIsEmpty) {
  socket_address a;
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.family(), AF_UNSPEC);
  EXPECT_EQ(a.port(), 0);
  EXPECT_EQ(a.host(), "");
}

TEST(SocketAddress, Ipv4) {
  auto a = v4("127.0.0.1", 8080);
  EXPECT_EQ(a.family(), AF_INET);
  EXPECT_EQ(a.size(), sizeof(sockaddr_in));
  EXPECT_EQ(a.port(), 8080);  // network byte order converted
  EXPECT_EQ(a.host(), "127.0.0.1");
  EXPECT_EQ(a.to_string(), "tcp://127.0.0.1:8080");
  EXPECT_EQ(a.to_string(transport::udp), "udp://127.0.0.1:8080");
  EXPECT_EQ(a.to_endpoint(), endpoint::inet("127.0.0.1", 8080));
}

TEST(SocketAddress, Ipv6IsBracketed) {
  auto a = v6("::1", 65535);
  EXPECT_EQ(a.family(), AF_INET6);
  EXPECT_EQ(a.port(), 65535);
  EXPECT_EQ(a.host(), "::1");
  EXPECT_EQ(a.to_string(), "tcp://[::1]:65535");
  EXPECT_EQ(endpoint::parse(a.to_string()), a.to_endpoint());
  EXPECT_EQ(v6("2001:db8::ff", 1).host(), "2001:db8::ff");
}

TEST(SocketAddress, UnixPath) {
  auto a = socket_address::from_unix(endpoint::unix_socket("/tmp/x.sock"));
  EXPECT_EQ(a.family(), AF_UNIX);
  // sun_path holds the path plus its terminating NUL.
  EXPECT_EQ(a.size(), offsetof(sockaddr_un, sun_path) + std::strlen("/tmp/x.sock") + 1);
  EXPECT_EQ(a.host(), "/tmp/x.sock");
  EXPECT_EQ(a.port(), 0);
  EXPECT_EQ(a.to_string(), "unix:/tmp/x.sock");
  EXPECT_EQ(a.to_endpoint(), endpoint::unix_socket("/tmp/x.sock"));
}

TEST(SocketAddress, UnixAbstractHasLeadingNulAndNoTerminator) {
  auto a = socket_address::from_unix(endpoint::unix_socket("name", true));
  EXPECT_EQ(a.size(), offsetof(sockaddr_un, sun_path) + 1 + 4);
  const auto* un = reinterpret_cast<const sockaddr_un*>(a.data());
  EXPECT_EQ(un->sun_path[0], '\0');
  EXPECT_EQ(std::memcmp(un->sun_path + 1, "name", 4), 0);
  EXPECT_EQ(a.host(), "@name");
  EXPECT_EQ(a.to_string(), "unix:@name");
  EXPECT_EQ(a.to_endpoint(), endpoint::unix_socket("name", true));
}

TEST(SocketAddress, UnixLongestPathFits) {
  std::string p = "/" + std::string(endpoint::max_unix_path - 1, 'p');
  auto a = socket_address::from_unix(endpoint::unix_socket(p));
  EXPECT_EQ(a.host(), p);
  EXPECT_LE(a.size(), sizeof(sockaddr_un));
  std::string abs(endpoint::max_unix_path, 'q');
  auto b = socket_address::from_unix(endpoint::unix_socket(abs, true));
  EXPECT_EQ(b.host(), "@" + abs);
  EXPECT_LE(b.size(), sizeof(sockaddr_un));
}

TEST(SocketAddress, UnixRejectsWhatDoesNotFit) {
  EXPECT_THROW(socket_address::from_unix(endpoint::inet("127.0.0.1", 1)), std::invalid_argument);
  std::string too_long(endpoint::max_unix_path + 1, 'p');
  EXPECT_THROW(socket_address::from_unix(endpoint::unix_socket(too_long)), std::length_error);
}

TEST(SocketAddress, UnnamedUnixClient) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  socket_address a(reinterpret_cast<const sockaddr*>(&un), sizeof(sa_family_t));
  EXPECT_EQ(a.host(), "");
  EXPECT_EQ(a.to_string(), "unix:");
}

TEST(SocketAddress, OversizedLengthIsClamped) {
  sockaddr_storage big{};
  big.ss_family = AF_INET;
  socket_address a(reinterpret_cast<const sockaddr*>(&big), sizeof big);
  EXPECT_EQ(a.size(), socket_address::capacity());
  EXPECT_EQ(socket_address::capacity(), sizeof(sockaddr_storage));
}

TEST(SocketAddress, ResizeAfterKernelFillsIt) {
  socket_address a;
  auto* in = reinterpret_cast<sockaddr_in*>(a.data());
  in->sin_family = AF_INET;
  in->sin_port = htons(9);
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.resize(sizeof(sockaddr_in));
  EXPECT_EQ(a.to_string(), "tcp://127.0.0.1:9");
}

}  // namespace
}  // namespace sockit::net
