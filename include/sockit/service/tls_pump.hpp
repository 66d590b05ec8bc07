// tls_pump: TLS for the blocking clients (put, get, ls, connect) and `listen --tls`. Their
// code reads and writes a plain descriptor from two threads at once (one sends requests
// while the other reads replies) and sends files with sendfile(2); OpenSSL's SSL object may
// not be used by two threads at once and has no sendfile. So the program keeps a
// descriptor, now one end of a socketpair, and a pump thread runs the TLS connection
// (asio::ssl) and relays between the two, full duplex, the way stunnel does. The handshake
// and the check of the server's identity complete before connect() returns: nothing the
// client writes (its token in `hello`) can reach a server that failed the check. No Asio in
// this header.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "sockit/net/socket.hpp"
#include "sockit/service/known_hosts.hpp"

namespace sockit::service {

struct tls_identity;

class tls_pump {
 public:
  /// The client's side: takes over `connected` and does the handshake on it (at most
  /// `timeout_s` seconds), then checks the server by `trust`: with a CA, its chain and
  /// `host` (a name or an address; empty for a Unix socket: the chain only); else its
  /// identity, pinned for `endpoint` (check_identity). Null, with `ec` and `why` set, if
  /// either fails.
  static std::unique_ptr<tls_pump> connect(net::socket connected, const trust_policy& trust,
                                           const std::string& endpoint, const std::string& host,
                                           int timeout_s, std::error_code& ec, std::string& why);
  /// The server's side: the handshake as `identity` (`listen --tls`). Null, with `ec` and
  /// `why` set, if it fails or takes longer than `timeout_s`.
  static std::unique_ptr<tls_pump> accept(net::socket connected, const tls_identity& identity,
                                          int timeout_s, std::error_code& ec, std::string& why);
  ~tls_pump();
  tls_pump(const tls_pump&) = delete;
  tls_pump& operator=(const tls_pump&) = delete;

  /// The plaintext descriptor the client uses in place of the socket.
  int fd() const noexcept;
  /// A socket of its own on that descriptor (a dup), for code written against net::socket
  /// (the relay, the chat client). Throws std::system_error when out of descriptors.
  net::socket plain_socket() const;
  /// The client's side: the identity the server showed ("SHA256:...").
  const std::string& peer_identity() const noexcept;

  struct impl;

 private:
  explicit tls_pump(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace sockit::service
