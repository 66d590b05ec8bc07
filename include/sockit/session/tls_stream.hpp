// tls_stream: TLS 1.3 (asio::ssl over OpenSSL 3) slotted under the services without forking
// them. maybe_tls<Socket> is one stream type for both cases, chosen once per connection where
// it is accepted: the frame reader and writer are written against it, and it forwards each
// read and write to the TLS stream or straight to the socket. The TLS contexts are built in
// src/session/tls_context.cpp (compiled once).
#pragma once

#include <sys/socket.h>

#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/socket_base.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/use_awaitable.hpp>
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

/// Starts sending TLS's close_notify (the end of our writes) on `tls` without waiting for
/// the peer's, and calls `handler(error_code)` once it is written. TLS 1.3 half-closes: the
/// peer may go on sending, and reads go on. asio::ssl's own async_shutdown would also wait
/// for the peer's close_notify, reading beside the stream's reader and swallowing its data;
/// so while the shutdown is initiated (synchronously, in this call) OpenSSL is told the
/// peer's has come, which makes SSL_shutdown write ours and finish. Peers built on OpenSSL
/// 3 (ncat, socat, s_client) report a stream that ends without it as an error.
template <class Stream, class Handler>
void start_close_notify(asio::ssl::stream<Stream>& tls, Handler&& handler) {
  SSL* ssl = tls.native_handle();
  const int before = SSL_get_shutdown(ssl);
  SSL_set_shutdown(ssl, before | SSL_RECEIVED_SHUTDOWN);
  tls.async_shutdown(std::forward<Handler>(handler));
  SSL_set_shutdown(ssl, (before & SSL_RECEIVED_SHUTDOWN) | SSL_SENT_SHUTDOWN);
}

/// start_close_notify() for any completion token.
template <class Stream, class Token>
auto async_close_notify(asio::ssl::stream<Stream>& tls, Token&& token) {
  return asio::async_initiate<Token, void(std::error_code)>(
      [&tls](auto handler) { start_close_notify(tls, std::move(handler)); }, token);
}

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

  /// For write_queue's direct writes, which only a plaintext socket made non-blocking gets:
  /// under TLS every write goes through the stream (OpenSSL frames and may buffer it).
  bool non_blocking() const { return !tls_ && socket_.non_blocking(); }
  template <class Buffers>
  std::size_t write_some(const Buffers& buffers, std::error_code& ec) {
    if (tls_) {
      ec = std::make_error_code(std::errc::operation_not_supported);
      return 0;
    }
    return socket_.write_some(buffers, ec);
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

  /// TLS: sends close_notify (see async_close_notify); plaintext: completes at once.
  template <class Token>
  auto async_close_notify(Token&& token) {
    return asio::async_initiate<Token, void(std::error_code)>(
        [this](auto handler) {
          if (tls_) {
            start_close_notify(*tls_, std::move(handler));
          } else {
            asio::post(socket_.get_executor(),
                       [h = std::move(handler)]() mutable { std::move(h)(std::error_code{}); });
          }
        },
        token);
  }

  /// The client's half of the handshake (the caller checks the server's identity after it,
  /// or, like the load generators, does not need to).
  template <class Token>
  auto async_client_handshake(Token&& token) {
    return tls_->async_handshake(asio::ssl::stream_base::client, std::forward<Token>(token));
  }

  /// The server's half of the handshake.
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

/// The server's opening under TLS: waits for the client's first byte and, when it opens a
/// handshake record (0x16), does the handshake. A plaintext client (anything else) is not
/// read from: it is sent `told_plaintext` (the service's own protocol saying so: a line, a
/// frame; best effort, never blocking), `plaintext` is set, and the result is
/// protocol_error; the caller closes. Completes at once, with no error, on a plaintext
/// stream. Bound it with a deadline (a client that stalls mid-handshake must not hold a
/// connection).
template <class Socket>
asio::awaitable<std::error_code> accept_tls(maybe_tls<Socket>& s, std::string_view told_plaintext,
                                            bool& plaintext) {
  constexpr auto tok = asio::experimental::as_tuple(asio::use_awaitable);
  plaintext = false;
  if (!s.is_tls()) co_return std::error_code{};
  auto [wec] = co_await s.socket().async_wait(asio::socket_base::wait_read, tok);
  if (wec) co_return wec;
  unsigned char first = 0;
  if (::recv(s.native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT) == 1 && first != 0x16) {
    plaintext = true;
    (void)::send(s.native_handle(), told_plaintext.data(), told_plaintext.size(),
                 MSG_DONTWAIT | MSG_NOSIGNAL);
    co_return std::make_error_code(std::errc::protocol_error);
  }
  auto [hec] = co_await s.async_accept_handshake(tok);
  co_return hec;
}

}  // namespace sockit::session
