// websocket: the I/O half of RFC 6455 on a server (codec/websocket.hpp is the wire format):
// reading an HTTP request head under a size cap and a deadline, the Origin rule, and one
// upgraded connection: messages read with pings answered and the close handshake kept,
// text messages written one at a time (a writer learns when its message is on the wire, so
// a client that reads slowly slows its writer instead of growing a buffer), a keepalive,
// and a bounded close. Plaintext or TLS (WSS), through maybe_tls.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sockit/codec/websocket.hpp"
#include "sockit/session/stream_server.hpp"
#include "sockit/session/tls_stream.hpp"

namespace sockit::session::websocket {

using codec::websocket::close_code;
using ws_stream = maybe_tls<stream_socket>;

enum class head_status {
  complete,   // buf holds the head (head_size bytes) and whatever followed it
  closed,     // the client left (or the socket failed) first
  timed_out,  // no complete head within the time allowed
  too_big,    // more than codec::websocket::max_head bytes without the blank line
};

/// Reads until a request head is complete, at most max_head bytes, within `timeout`.
asio::awaitable<head_status> read_head(ws_stream& s, std::string& buf, std::size_t& head_size,
                                       std::chrono::milliseconds timeout);

/// Writes all of `bytes` within `timeout` (an HTTP answer); false on failure or timeout.
asio::awaitable<bool> write_all(ws_stream& s, std::string_view bytes,
                                std::chrono::milliseconds timeout);

/// Against cross-site WebSocket hijacking: a browser always sends Origin, so a request
/// without one is not a browser's, and is allowed; otherwise the origin must be the page's
/// own (scheme "http" or "https", per `tls`, and the Host the client asked for) or one of
/// `allowed` (exact, case-insensitive; "*" allows any).
bool origin_allowed(const codec::websocket::request& r, bool tls,
                    std::span<const std::string> allowed);

/// Against DNS rebinding: a page on a listener bound to loopback is only for this machine, so
/// the Host the client asked for must name loopback too (localhost, 127.0.0.0/8, [::1], any
/// port). A hostile site that rebinds its own name to 127.0.0.1 sends Host: its name, and
/// its page would otherwise be same-origin with us. A name in one of `allowed` origins is
/// the operator's too (a reverse proxy on this machine passes Host: chat.example); "*"
/// allows any. Other listeners take any Host (the Origin rule still applies).
bool host_allowed(std::string_view host, bool listener_is_loopback,
                  std::span<const std::string> allowed);

struct connection_options {
  std::size_t max_message = 64 * 1024;  // a client's message, fragments joined (else 1009)
  // With nothing heard from the client for ping_interval, it is pinged; with no answer
  // within pong_timeout it is closed (0: no keepalive).
  std::chrono::milliseconds ping_interval{30000};
  std::chrono::milliseconds pong_timeout{10000};
  // One write unfinished for this long: the client is not reading; the connection ends.
  std::chrono::milliseconds write_timeout{30000};
  // The close handshake: our close frame written and the client's read, at most this long.
  std::chrono::milliseconds close_timeout{2000};
};

/// One upgraded connection. Held by a shared_ptr (its writes' completions keep it alive);
/// used from one loop; the stream must outlive it, and finish() must be awaited before the
/// stream goes. read_message, send_text and keepalive may run at once (one coroutine each,
/// as awaitable_operators `||` branches); close and finish run after them.
class connection : public std::enable_shared_from_this<connection> {
 public:
  /// `already_read`: bytes that came after the request head in the same read.
  connection(ws_stream& s, connection_options o, std::string_view already_read);

  /// The next text message, or nullopt once the connection is ending (why() says why): the
  /// client closed (answered), broke a rule (told with the RFC's close code), sent a binary
  /// message (1003), or left. Pings are answered meanwhile.
  asio::awaitable<std::optional<std::string>> read_message();
  /// Writes one text message (valid UTF-8, which the caller makes sure of) and completes
  /// when it is written; false when the connection failed or is closing.
  asio::awaitable<bool> send_text(std::string_view payload);
  /// Pings an idle client; returns when the client must be given up (no pong, or a write
  /// stuck for write_timeout), with why() set. Cancelled: returns too.
  asio::awaitable<void> keepalive();
  /// The close handshake from our side (unless a close was already sent): the close frame,
  /// then the client's close or end, all within close_timeout; then the socket is closed.
  asio::awaitable<void> close(close_code code, std::string_view reason);
  /// Closes the socket and waits for a write still in flight to finish.
  asio::awaitable<void> finish();

  const std::string& why() const noexcept { return why_; }
  bool close_sent() const noexcept { return close_sent_; }

 private:
  void queue(codec::websocket::opcode op, std::string_view payload);
  void queue_close(close_code code, std::string_view reason);
  void kick();
  asio::awaitable<bool> wait_written();
  void ended(std::string why);

  ws_stream& stream_;
  connection_options opt_;
  codec::websocket::frame_reader reader_;
  std::string in_;  // read, not yet taken by the reader
  std::size_t in_at_ = 0;
  std::string out_, flying_;         // waiting to be written; being written
  std::optional<std::string> pong_;  // only the newest ping is answered (RFC 6455 §5.5.3)
  bool writing_ = false;
  bool failed_ = false;
  bool close_sent_ = false;
  bool close_heard_ = false;  // the client's close, or its end
  bool ping_out_ = false;
  std::chrono::steady_clock::time_point last_heard_, ping_sent_, write_began_;
  asio::steady_timer wake_;  // cancelled when a write ends; never expires
  std::string why_;
};

}  // namespace sockit::session::websocket
