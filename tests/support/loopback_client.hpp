// loopback_client: the blocking client side of the unit tests that talk to a real server on
// loopback: connect with a receive deadline, read exactly n bytes, detect the server's close.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <span>
#include <string>
#include <system_error>

#include "sockit/net/socket.hpp"

namespace sockit::test {

/// Blocking reads with a deadline, so a broken server fails the test instead of hanging it.
inline void set_timeout(net::socket& s, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/// Connects (a failed connect fails the test) with a 10 s receive deadline.
inline net::socket connect_to(const net::endpoint& e) {
  std::error_code ec;
  std::string why;
  net::socket s = net::socket::connect(e, ec, &why);
  EXPECT_FALSE(ec) << why;
  set_timeout(s, 10);
  return s;
}

/// Reads until `n` bytes, EOF, an error or the deadline; returns what arrived.
inline std::string recv_exactly(net::socket& s, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    std::error_code ec;
    std::size_t k = s.recv(std::as_writable_bytes(std::span(out)).subspan(got), ec);
    if (ec || k == 0) break;
    got += k;
  }
  out.resize(got);
  return out;
}

/// True when the server closed the connection (EOF or reset) within the socket's deadline.
inline bool closed_by_peer(net::socket& s) {
  char c;
  std::error_code ec;
  std::size_t n = s.recv(std::as_writable_bytes(std::span(&c, 1)), ec);
  return (n == 0 && !ec) || ec == std::errc::connection_reset;
}

}  // namespace sockit::test
