// TLS contexts for maybe_tls: TLS 1.3 only (no downgrade to the versions and ciphers that
// ncat's and socat's defaults still allow), no session tickets on the server (a connection
// is one session: resumption would only add state).
#include <openssl/ssl.h>

#include "sockit/session/tls_stream.hpp"

namespace sockit::session {
namespace {

void only_tls13(asio::ssl::context& ctx) {
  if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_3_VERSION) != 1)
    throw std::system_error(std::make_error_code(std::errc::protocol_not_supported),
                            "OpenSSL without TLS 1.3");
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_tls_server_context(std::string_view cert_pem,
                                                            std::string_view key_pem) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  only_tls13(*ctx);
  SSL_CTX_set_num_tickets(ctx->native_handle(), 0);
  ctx->use_certificate_chain(asio::buffer(cert_pem.data(), cert_pem.size()));
  ctx->use_private_key(asio::buffer(key_pem.data(), key_pem.size()), asio::ssl::context::pem);
  return ctx;
}

std::shared_ptr<asio::ssl::context> make_tls_client_context() {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  only_tls13(*ctx);
  ctx->set_verify_mode(asio::ssl::verify_none);  // pinned by the caller instead (see header)
  return ctx;
}

}  // namespace sockit::session
