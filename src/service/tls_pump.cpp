// tls_pump: the client's TLS connection on a thread of its own, relayed to a socketpair.
#include "sockit/service/tls_pump.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <thread>
#include <vector>

#include "sockit/service/known_hosts.hpp"
#include "sockit/service/tls_identity.hpp"
#include "sockit/session/tls_stream.hpp"

namespace sockit::service {

using generic_socket = asio::generic::stream_protocol::socket;

struct tls_pump::impl {
  explicit impl(std::shared_ptr<asio::ssl::context> c) : ctx(std::move(c)) {}

  asio::io_context io{1};
  std::shared_ptr<asio::ssl::context> ctx;
  generic_socket net{io};  // the TCP (or Unix) connection to the peer
  asio::ssl::stream<generic_socket&> tls{net, *ctx};
  generic_socket local{io};  // the pump's end of the socketpair
  int app = -1;              // the client's end
  std::string fingerprint;
  std::thread thread;
  asio::steady_timer closing{io};
  int running = 0;  // relay coroutines not yet done (io thread only)
  bool tls_failed = false;

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
      if (wec) {
        tls_failed = true;
        break;
      }
    }
    // The end of our writes, in TLS (close_notify) and then in TCP.
    if (!tls_failed) co_await session::async_close_notify(tls, tok);
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
      if (rec && rec != asio::error::eof && rec != asio::ssl::error::stream_truncated)
        tls_failed = true;  // no close_notify on a broken connection
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

net::socket tls_pump::plain_socket() const {
  int fd = ::dup(impl_->app);
  if (fd < 0) throw std::system_error(errno, std::system_category(), "dup");
  return net::socket(fd);
}

const std::string& tls_pump::peer_identity() const noexcept { return impl_->fingerprint; }

namespace {

// Takes over `connected` and makes the socketpair; false with `why` set on failure.
bool attach(tls_pump::impl& p, net::socket connected, std::error_code& ec, std::string& why) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int fd = connected.native_handle();
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    ec = {errno, std::system_category()};
  } else {
    int protocol = ss.ss_family == AF_UNIX ? 0 : IPPROTO_TCP;
    p.net.assign(asio::generic::stream_protocol(ss.ss_family, protocol), connected.release(), ec);
  }
  int pair[2];
  if (!ec && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    ec = {errno, std::system_category()};
  if (!ec) {
    p.app = pair[0];
    p.local.assign(asio::generic::stream_protocol(AF_UNIX, 0), pair[1], ec);
    if (ec) ::close(pair[1]);
  }
  if (ec) why = "cannot start TLS: " + ec.message();
  return !ec;
}

// The handshake, bounded: a peer that connects and then says nothing must not hang us.
bool handshake(tls_pump::impl& p, asio::ssl::stream_base::handshake_type side, int timeout_s,
               std::error_code& ec, std::string& why) {
  std::error_code hec;
  bool done = false;
  p.tls.async_handshake(side, [&](std::error_code e) {
    hec = e;
    done = true;
  });
  p.io.run_for(std::chrono::seconds(timeout_s > 0 ? timeout_s : 60));
  if (!done) {
    std::error_code ignored;
    p.net.close(ignored);
    p.io.restart();
    p.io.run();  // lets the cancelled handshake complete before the stream goes
    ec = std::make_error_code(std::errc::timed_out);
    why = "TLS handshake timed out";
    return false;
  }
  if (hec) {
    ec = hec;
    why = "TLS handshake failed: " + hec.message();
    if (side == asio::ssl::stream_base::client) {
      int reason =
          hec.category() == asio::error::get_ssl_category() ? ERR_GET_REASON(hec.value()) : 0;
      if (reason == SSL_R_TLSV1_ALERT_ACCESS_DENIED)
        why += " (the server does not serve this address: its --allow/--deny)";
      else if (reason == SSL_R_WRONG_VERSION_NUMBER || hec == asio::ssl::error::stream_truncated)
        why += " (is the server plaintext? put/get/ls take --plain for a serve --plain)";
    }
    return false;
  }
  return true;
}

std::string peer_fingerprint(SSL* ssl) {
  std::string fp;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert != nullptr) {
    unsigned char* der = nullptr;
    int n = i2d_X509(cert, &der);
    if (n > 0) {
      fp = fingerprint_of_der({reinterpret_cast<char*>(der), static_cast<std::size_t>(n)});
      OPENSSL_free(der);
    }
    X509_free(cert);
  }
  return fp;
}

// With a CA: the chain is verified in the handshake, and the name (or address) the user
// connected to must be in the certificate; the name is sent as SNI too.
bool require_ca(tls_pump::impl& p, const trust_policy& trust, std::string host, std::string& why) {
  // On the stream: its SSL object already copied the context's mode (none) when it was made.
  p.tls.set_verify_mode(asio::ssl::verify_peer);
  if (!trust.cafile.empty())
    p.ctx->load_verify_file(trust.cafile);
  else
    p.ctx->set_default_verify_paths();
  if (host.empty()) return true;  // a Unix socket: the chain only
  SSL* ssl = p.tls.native_handle();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (auto zone = host.find('%'); zone != std::string::npos) host.resize(zone);  // fe80::1%eth0
  std::error_code not_address;
  (void)asio::ip::make_address(host, not_address);
  // Fail closed: a name or address OpenSSL cannot check is not trusted.
  if (!not_address) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
      why = "cannot check the certificate against the address " + host;
      return false;
    }
  } else {
    if (X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) != 1) {
      why = "cannot check the certificate against the name " + host;
      return false;
    }
    // SSL_set_tlsext_host_name, without the macro's old-style cast.
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(host.c_str()));
  }
  return true;
}

std::unique_ptr<tls_pump::impl> run_pump(std::unique_ptr<tls_pump::impl> p) {
  p->io.restart();
  p->running = 2;
  asio::co_spawn(p->io, p->up(), asio::detached);
  asio::co_spawn(p->io, p->down(), asio::detached);
  tls_pump::impl* raw = p.get();
  p->thread = std::thread([raw] { raw->io.run(); });
  return p;
}

}  // namespace

std::unique_ptr<tls_pump> tls_pump::connect(net::socket connected, const trust_policy& trust,
                                            const std::string& endpoint, const std::string& host,
                                            int timeout_s, std::error_code& ec, std::string& why) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const bool unix_socket =
      ::getsockname(connected.native_handle(), reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
      ss.ss_family == AF_UNIX;
  auto p = std::make_unique<impl>(session::make_tls_client_context());
  if (!attach(*p, std::move(connected), ec, why)) return nullptr;
  if (trust.uses_ca()) {
    if (!trust.pin.empty()) {
      ec = std::make_error_code(std::errc::invalid_argument);
      why = "--pin and --cafile/--system-ca are two ways to trust a server: give one";
      return nullptr;
    }
    if (host.empty() && !unix_socket) {
      ec = std::make_error_code(std::errc::invalid_argument);
      why =
          "--cafile/--system-ca need a host name or address to check the certificate "
          "against (HOST:PORT, not :PORT)";
      return nullptr;
    }
    try {
      if (!require_ca(*p, trust, host, why)) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return nullptr;
      }
    } catch (const std::system_error& e) {
      ec = e.code();
      why = "cannot load the CA certificates" +
            (trust.cafile.empty() ? std::string() : " from " + trust.cafile) + ": " +
            e.code().message();
      return nullptr;
    }
  }
  if (!handshake(*p, asio::ssl::stream_base::client, timeout_s, ec, why)) {
    long v = SSL_get_verify_result(p->tls.native_handle());
    if (trust.uses_ca() && v != X509_V_OK)
      why = "the server's certificate is not trusted: " +
            std::string(X509_verify_cert_error_string(v));
    return nullptr;
  }
  if (trust.uses_ca() && SSL_get_verify_result(p->tls.native_handle()) != X509_V_OK) {
    ec = std::make_error_code(std::errc::permission_denied);  // never reached: belt and braces
    why = "the server's certificate is not trusted";
    return nullptr;
  }
  std::string fp = peer_fingerprint(p->tls.native_handle());
  if (fp.empty()) {
    ec = std::make_error_code(std::errc::permission_denied);
    why = "the server showed no usable certificate";
    return nullptr;
  }
  if (!trust.uses_ca() && !check_identity(trust, endpoint, fp, why)) {
    ec = std::make_error_code(std::errc::permission_denied);
    return nullptr;
  }
  p->fingerprint = fp;
  return std::unique_ptr<tls_pump>(new tls_pump(run_pump(std::move(p))));
}

std::unique_ptr<tls_pump> tls_pump::accept(net::socket connected, const tls_identity& identity,
                                           int timeout_s, std::error_code& ec, std::string& why) {
  std::shared_ptr<asio::ssl::context> ctx;
  try {
    ctx = session::make_tls_server_context(identity.cert_pem, identity.key_pem);
  } catch (const std::system_error& e) {
    ec = e.code();
    why = std::string("cannot use the certificate: ") + e.what();
    return nullptr;
  }
  auto p = std::make_unique<impl>(std::move(ctx));
  if (!attach(*p, std::move(connected), ec, why)) return nullptr;
  if (!handshake(*p, asio::ssl::stream_base::server, timeout_s, ec, why)) return nullptr;
  return std::unique_ptr<tls_pump>(new tls_pump(run_pump(std::move(p))));
}

}  // namespace sockit::service
