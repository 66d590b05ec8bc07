// Asio's implementation, compiled once for the whole project (ASIO_SEPARATE_COMPILATION),
// so no other translation unit pays for it.
#include <asio/impl/src.hpp>
// asio::ssl's, over OpenSSL (session/tls_stream.hpp).
#include <asio/ssl/impl/src.hpp>
