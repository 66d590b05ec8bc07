// chat_server: the seeds' "server that talks to many clients at once" as a small IRC-like
// room over plain text lines (nc and telnet are full clients): nicknames, commands, rooms,
// history, and a bounded outgoing queue per member so one slow reader never slows the rest.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sockit/net/endpoint.hpp"
#include "sockit/net/terminal_text.hpp"
#include "sockit/service/chat_command.hpp"  // check_nick, check_room: chat's name rules
#include "sockit/service/tls_identity.hpp"

namespace sockit::service {

struct chat_options {
  net::endpoint endpoint;
  std::size_t history = 0;            // messages replayed to a newcomer, per room
  std::size_t max_clients = 4096;     // 0 = unlimited; beyond it, told "full" and closed
  std::size_t max_conns_per_ip = 32;  // live connections per peer address; 0 = no cap
  std::size_t max_line = 2048;        // bytes per line; longer lines are refused
  // Bytes waiting for a member before its queue is full. A full member that takes nothing
  // for drop_after is dropped (it is not reading); one that is reading may hold up to twice
  // this (what the room's senders had already said) before it is dropped as reading too
  // slowly for the room. So a member's queue never holds more than 2 * max_queue.
  std::size_t max_queue = 256 * 1024;
  std::chrono::milliseconds drop_after{5000};  // 0: dropped as soon as its queue is full
  // Lines taken from each member per second on average, and at once (IRC's fakelag): a
  // flooder's excess waits in its own socket, so TCP pushes back on it. 0: no limit.
  double rate = 100;
  double burst = 200;
  // A member that sent nothing for this long is disconnected (0 = never): without it, idle
  // connections could hold every --max-clients slot for as long as they like.
  std::chrono::milliseconds idle_timeout{std::chrono::hours(1)};
  // SO_SNDBUF per member, so what a non-reader can park in the kernel is bounded too and
  // it is dropped after a predictable backlog (0 = the kernel's autotuning, up to MiBs).
  std::size_t socket_buffer = 64 * 1024;
  std::chrono::milliseconds close_grace{2000};  // how long a goodbye may take to be read
  std::string lobby = "#lobby";                 // the room everyone joins first
  // TLS 1.3 with this certificate and key (docs/SECURITY.md); an empty cert_pem: plaintext,
  // for nc, telnet and the tutorials' clients. A plaintext client of a TLS room is told so
  // in one line and closed.
  tls_identity tls;
  // A private room: a newcomer is asked for this token first (chat_lines::token_prompt) and
  // joins only if its first line is it (compared in constant time; a wrong one is refused
  // after a delay that grows per address). Empty: anyone may join.
  std::string token;
  // TLS handshake and token, together, within this long; past it the newcomer is closed.
  std::chrono::milliseconds opening_timeout{10000};
  // The browser's way in (docs/CHAT.md): an HTTP listener here serves the page (built into
  // the binary) and a WebSocket endpoint, /ws, whose members are ordinary room members.
  // With tls: HTTPS and WSS with the same identity. TCP only. Unset: no web listener.
  std::optional<net::endpoint> web;
  // Origins a browser may open the WebSocket from besides the page's own ("*": any), against
  // cross-site WebSocket hijacking.
  std::vector<std::string> web_origins;
  // A browser heard nothing from this long is pinged, and closed if it stays silent as long
  // again.
  std::chrono::milliseconds web_ping_interval{30000};
};

struct chat_event {
  enum class type {
    joined,           // nick, peer, room
    left,             // nick, peer, room; detail = why (quit, closed, idle timeout, error)
    dropped,          // nick, peer, room; detail = why (not reading, or reading too slowly)
    message,          // nick, room, text
    action,           // nick, room, text (/me)
    private_message,  // nick -> detail (the target); the text is deliberately not reported
    nick_changed,     // detail = old nick, nick = new nick
    room_changed,     // nick; detail = old room, room = new room
    line_too_long,    // nick, peer
    rejected,         // peer; detail = why (room full)
    closing,          // the server is stopping; detail = members told
  };
  type what;
  std::chrono::system_clock::time_point time;
  std::string nick;
  std::string peer;
  std::string room;
  std::string text;
  std::string detail;
};

struct chat_stats {
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  std::uint64_t active = 0;
  std::uint64_t messages = 0;    // chat lines and actions relayed
  std::uint64_t deliveries = 0;  // lines queued to members (a message to N others counts N)
  std::uint64_t dropped = 0;     // members disconnected because they stopped reading
  std::uint64_t idle_closed = 0;
  std::uint64_t too_long = 0;  // lines refused for exceeding max_line
};

/// All room state lives on one event loop (one thread), so it needs no locks and every
/// member sees every sender's lines in the order they were sent. Measured (docs/CHAT.md):
/// most of the server's CPU time is the kernel's sends, one gathered send per member per
/// paced flush pass, so more loops would add cross-thread hand-offs to every broadcast, not
/// sends per second.
class chat_server {
 public:
  /// Binds at once (throws std::system_error with a clear message), so local_endpoint()
  /// is known before start(). TCP, IPv6 and Unix endpoints.
  explicit chat_server(chat_options options);
  ~chat_server();
  chat_server(const chat_server&) = delete;
  chat_server& operator=(const chat_server&) = delete;

  net::endpoint local_endpoint() const;
  /// The TLS identity members see ("SHA256:..."), or empty when plaintext.
  const std::string& identity() const;
  /// The page's URL ("http://127.0.0.1:8080/"; a wildcard address shown as loopback), or
  /// empty without options.web.
  std::string web_url() const;

  /// Called on the server's thread for every event; must be quick. Set before start().
  void on_event(std::function<void(const chat_event&)> callback);

  /// Serves on a background thread and returns.
  void start();
  /// Tells every member the room is closing, lets them read it (up to close_grace), closes
  /// everything and waits. Safe from any thread but the server's own, and more than once.
  void stop();
  /// Blocks until stop() has completed.
  void wait();

  /// A snapshot of the counters. Safe to call from any thread.
  chat_stats stats() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

/// Makes a peer's text safe to relay (the shared rule of net/terminal_text.hpp): C0
/// controls become caret notation (^[), tabs spaces, invalid UTF-8, C1 controls, bidi and
/// zero-width characters U+FFFD.
using net::neutralize;

}  // namespace sockit::service
