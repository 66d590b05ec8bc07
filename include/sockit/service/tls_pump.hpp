// tls_pump: TLS for the blocking clients (put, get, ls). The client's code reads and writes
// a plain descriptor from two threads at once (one sends requests while the other reads
// replies) and sends files with sendfile(2); OpenSSL's SSL object may not be used by two
// threads at once and has no sendfile. So the client keeps its descriptor, now one end of
// a socketpair, and a pump thread runs the TLS connection (asio::ssl) and relays between the
// two, full duplex, the way stunnel does. The handshake and the check of the server's
// identity complete before start() returns: nothing the client writes (its token in
// `hello`) can reach a server that failed the check. No Asio in this header.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "sockit/net/socket.hpp"

namespace sockit::service {

class tls_pump {
 public:
  /// Decides about the server's identity ("SHA256:..."): true to go on; false with `why`
  /// set to refuse.
  using identity_check = std::function<bool(const std::string& fingerprint, std::string& why)>;

  /// Takes over `connected` and does the client's handshake on it (at most `timeout_s`
  /// seconds), then asks `check`. Null, with `ec` and `why` set, if either fails.
  static std::unique_ptr<tls_pump> start(net::socket connected, const identity_check& check,
                                         int timeout_s, std::error_code& ec, std::string& why);
  ~tls_pump();
  tls_pump(const tls_pump&) = delete;
  tls_pump& operator=(const tls_pump&) = delete;

  /// The plaintext descriptor the client uses in place of the socket.
  int fd() const noexcept;

  struct impl;

 private:
  explicit tls_pump(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace sockit::service
