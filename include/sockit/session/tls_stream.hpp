// tls_stream: TLS 1.3 (asio::ssl over OpenSSL 3) slotted under the services without forking
// them. maybe_tls<Socket> is one stream type for both cases, chosen once per connection where
// it is accepted: the frame reader and writer are written against it, and it forwards each
// read and write to the TLS stream or straight to the socket. The TLS contexts are built in
// src/session/tls_context.cpp (compiled once).
#pragma once

#include <asio/socket_base.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace sockit::session {

/// A server's context: TLS 1.3 only, the given certificate and key (PEM). Throws
/// std::system_error when OpenSSL refuses them.
std::shared_ptr<asio::ssl::context> make_tls_server_context(std::string_view cert_pem,
                                                            std::string_view key_pem);

/// A client's context: TLS 1.3 only. The server's certificate is not checked against a CA:
/// the caller pins its public key (tls_identity's fingerprint) after the handshake, before
/// it sends anything.
std::shared_ptr<asio::ssl::context> make_tls_client_context();

/// `Socket` itself, or TLS over it, decided at construction (a null context: plaintext).
/// Non-copyable and non-movable: it refers to the socket, which outlives it.
template <class Socket>
class maybe_tls {
 public:
  using executor_type = typename Socket::executor_type;

  maybe_tls(Socket& socket, asio::ssl::context* tls) : socket_(socket) {
    if (tls != nullptr) tls_.emplace(socket, *tls);
  }
  maybe_tls(const maybe_tls&) = delete;
  maybe_tls& operator=(const maybe_tls&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  bool is_tls() const noexcept { return tls_.has_value(); }
  Socket& socket() noexcept { return socket_; }
  auto native_handle() { return socket_.native_handle(); }

  /// Plaintext only: sendfile(2) needs the bytes to go to the socket as they are, so under
  /// TLS this fails (operation_not_supported) and the writer falls back to read + write.
  void native_non_blocking(bool on, std::error_code& ec) {
    if (tls_) {
      ec = std::make_error_code(std::errc::operation_not_supported);
      return;
    }
    socket_.native_non_blocking(on, ec);
  }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Token>(token));
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }

  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Token>(token));
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

  /// Readiness of the socket itself (sendfile's wait for room; only plaintext uses it).
  template <class Token>
  auto async_wait(asio::socket_base::wait_type w, Token&& token) {
    return socket_.async_wait(w, std::forward<Token>(token));
  }

  /// The server's half of the handshake; completes at once when plaintext.
  template <class Token>
  auto async_accept_handshake(Token&& token) {
    return tls_->async_handshake(asio::ssl::stream_base::server, std::forward<Token>(token));
  }

  /// A peer that closes without TLS's close_notify (stream_truncated) ends the stream as EOF
  /// does: between frames that is a clean end (the framed protocol proved that nothing was
  /// cut off), inside a frame the reader reports it as the error it is.
  static void map_truncation(std::error_code& ec) noexcept {
    if (ec == asio::ssl::error::stream_truncated) ec = asio::error::eof;
  }

 private:
  Socket& socket_;
  std::optional<asio::ssl::stream<Socket&>> tls_;
};

}  // namespace sockit::session
