// tls_pump: the client's TLS connection on a thread of its own, relayed to a socketpair.
#include "sockit/service/tls_pump.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <thread>
#include <vector>

#include "sockit/service/tls_identity.hpp"
#include "sockit/session/tls_stream.hpp"

namespace sockit::service {

using generic_socket = asio::generic::stream_protocol::socket;

struct tls_pump::impl {
  asio::io_context io{1};
  std::shared_ptr<asio::ssl::context> ctx = session::make_tls_client_context();
  generic_socket net{io};  // the TCP (or Unix) connection to the server
  asio::ssl::stream<generic_socket&> tls{net, *ctx};
  generic_socket local{io};  // the pump's end of the socketpair
  int app = -1;              // the client's end
  std::string fingerprint;
  std::thread thread;
  asio::steady_timer closing{io};
  int running = 0;  // relay coroutines not yet done (io thread only)

  ~impl() {
    if (app >= 0) ::close(app);
  }

  void done_one() {
    if (--running == 0) closing.cancel();  // nothing left to wait for
  }

  // Client -> server. The client's end of its writes (shutdown or close) becomes a TCP
  // half-close; the server reads that as the end between frames.
  asio::awaitable<void> up() {
    constexpr auto tok = asio::experimental::as_tuple(asio::use_awaitable);
    std::vector<char> buf(256 * 1024);
    for (;;) {
      auto [rec, n] = co_await local.async_read_some(asio::buffer(buf), tok);
      if (rec) break;
      auto [wec, w] = co_await asio::async_write(tls, asio::buffer(buf.data(), n), tok);
      if (wec) break;
    }
    std::error_code ignored;
    net.shutdown(asio::socket_base::shutdown_send, ignored);
    done_one();
  }

  // Server -> client. The server's end (or a broken connection) becomes the end of the
  // client's reads.
  asio::awaitable<void> down() {
    constexpr auto tok = asio::experimental::as_tuple(asio::use_awaitable);
    std::vector<char> buf(256 * 1024);
    for (;;) {
      auto [rec, n] = co_await tls.async_read_some(asio::buffer(buf), tok);
      if (n > 0) {
        auto [wec, w] = co_await asio::async_write(local, asio::buffer(buf.data(), n), tok);
        if (wec) break;
      }
      if (rec) break;
    }
    std::error_code ignored;
    local.shutdown(asio::socket_base::shutdown_send, ignored);
    done_one();
  }
};

tls_pump::tls_pump(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

tls_pump::~tls_pump() {
  // Ends the client's side; the pump then half-closes to the server and waits for its end,
  // at most 2 s (a server that never closes must not hold the client).
  ::shutdown(impl_->app, SHUT_RDWR);
  asio::post(impl_->io, [p = impl_.get()] {
    if (p->running == 0) return;
    p->closing.expires_after(std::chrono::seconds(2));
    p->closing.async_wait([p](std::error_code ec) {
      if (ec) return;
      std::error_code ignored;
      p->net.close(ignored);
      p->local.close(ignored);
    });
  });
  if (impl_->thread.joinable()) impl_->thread.join();
}

int tls_pump::fd() const noexcept { return impl_->app; }

std::unique_ptr<tls_pump> tls_pump::start(net::socket connected, const identity_check& check,
                                          int timeout_s, std::error_code& ec, std::string& why) {
  auto p = std::make_unique<impl>();
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int fd = connected.native_handle();
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    ec = {errno, std::system_category()};
    why = "cannot start TLS: " + ec.message();
    return nullptr;
  }
  int protocol = ss.ss_family == AF_UNIX ? 0 : IPPROTO_TCP;
  p->net.assign(asio::generic::stream_protocol(ss.ss_family, protocol), connected.release(), ec);
  int pair[2];
  if (!ec && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    ec = {errno, std::system_category()};
  if (ec) {
    why = "cannot start TLS: " + ec.message();
    return nullptr;
  }
  p->app = pair[0];
  p->local.assign(asio::generic::stream_protocol(AF_UNIX, 0), pair[1], ec);
  if (ec) {
    ::close(pair[1]);
    why = "cannot start TLS: " + ec.message();
    return nullptr;
  }

  // The handshake, bounded: a server that accepts and then says nothing must not hang us.
  std::error_code hec;
  bool done = false;
  p->tls.async_handshake(asio::ssl::stream_base::client, [&](std::error_code e) {
    hec = e;
    done = true;
  });
  p->io.run_for(std::chrono::seconds(timeout_s > 0 ? timeout_s : 60));
  if (!done) {
    std::error_code ignored;
    p->net.close(ignored);
    p->io.restart();
    p->io.run();  // lets the cancelled handshake complete before the stream goes
    ec = std::make_error_code(std::errc::timed_out);
    why = "TLS handshake timed out (is the server a sockit serve?)";
    return nullptr;
  }
  if (hec) {
    ec = hec;
    why = "TLS handshake failed: " + hec.message();
    if (hec.category() == asio::error::get_ssl_category() ||
        hec == asio::ssl::error::stream_truncated)
      why += " (a plaintext server? then connect with --plain)";
    return nullptr;
  }
  X509* cert = SSL_get1_peer_certificate(p->tls.native_handle());
  if (cert != nullptr) {
    unsigned char* der = nullptr;
    int n = i2d_X509(cert, &der);
    if (n > 0) {
      p->fingerprint =
          fingerprint_of_der({reinterpret_cast<char*>(der), static_cast<std::size_t>(n)});
      OPENSSL_free(der);
    }
    X509_free(cert);
  }
  if (p->fingerprint.empty()) {
    ec = std::make_error_code(std::errc::permission_denied);
    why = "the server showed no usable certificate";
    return nullptr;
  }
  if (!check(p->fingerprint, why)) {
    ec = std::make_error_code(std::errc::permission_denied);
    return nullptr;
  }
  p->io.restart();
  p->running = 2;
  asio::co_spawn(p->io, p->up(), asio::detached);
  asio::co_spawn(p->io, p->down(), asio::detached);
  impl* raw = p.get();
  p->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<tls_pump>(new tls_pump(std::move(p)));
}

}  // namespace sockit::service
