// socks5_opening: the server's side of a SOCKS5 handshake (RFC 1928, RFC 1929) on an
// accepted connection, for `forward --socks5`: the client's methods, its user and password
// when the server has users, and its CONNECT request, within one deadline; then, once the
// target has answered, the reply. Internal to service/ (forward.cpp is its user).
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <string>
#include <system_error>
#include <vector>

#include "sockit/codec/socks5.hpp"
#include "sockit/service/access_token.hpp"
#include "sockit/service/forward.hpp"
#include "sockit/session/stream_server.hpp"

namespace sockit::service {

struct socks5_request {
  bool ok = false;
  codec::socks5::address dst;  // ok: where the client asks to go
  std::string refusal;         // !ok: why it was turned away, for the log
  std::string user;            // the user it proved, when the server has users
};

/// Reads the opening within `timeout`. A refusal it can answer is answered (no acceptable
/// method, a wrong password after the failures' delay, a command other than CONNECT, an
/// address type it cannot read); the caller then closes the connection.
asio::awaitable<socks5_request> socks5_opening(session::stream_socket& client,
                                               const std::vector<forward_user>& users,
                                               std::chrono::milliseconds timeout,
                                               auth_failures& failures);

/// Sends the reply to a CONNECT: succeeded with the server's side of the target connection
/// (`bound`, BND.ADDR), or the failure code. By value: a coroutine must not keep a
/// reference to its caller's temporary.
asio::awaitable<std::error_code> socks5_reply(session::stream_socket& client,
                                              codec::socks5::reply code,
                                              codec::socks5::address bound);

/// The reply code for a failed connect to the target.
codec::socks5::reply socks5_reply_for(const std::error_code& ec);

}  // namespace sockit::service
