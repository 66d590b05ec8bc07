// The chat room's browser way in (chat_options::web): an HTTP listener of its own, on its
// own thread, that serves the page built into the binary (web_files.hpp) and upgrades
// /ws to a WebSocket (session/websocket.hpp). Each WebSocket member is bridged into the
// room through a socketpair whose other end the room adopts as an ordinary member: so the
// nicks, rooms, commands, history, --rate, queues, drops, the token and --max-clients are
// the room's own code, unchanged. Why a bridge and not a member type of its own: a member is
// written by the flush pass's direct, gathered writes to its socket and its progress is read
// from the kernel (tcp_progress); framing each write would fork both. The bridge reads the
// pair only when its last WebSocket write is done, so a browser that reads slowly fills its
// member's queue exactly as a slow nc does, and is dropped by the same rules.
#include <sys/socket.h>

#include <fmt/format.h>
#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <stdexcept>

#include "server.hpp"
#include "sockit/codec/websocket.hpp"
#include "sockit/net/address.hpp"
#include "sockit/net/terminal_text.hpp"
#include "sockit/net/unique_fd.hpp"
#include "sockit/session/deadline.hpp"
#include "sockit/session/websocket.hpp"
#include "web_files.hpp"

namespace sockit::service {

namespace ws = codec::websocket;
namespace wss = session::websocket;

namespace {

constexpr auto tok = asio::experimental::as_tuple(asio::use_awaitable);

// The page may load only itself: no inline script or style, nothing from elsewhere, no
// framing (clickjacking), and its WebSocket only to where it came from.
constexpr std::string_view page_headers =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n";

std::string plain(int status, std::string_view reason, std::string_view body,
                  std::string_view extra = {}) {
  return ws::http_response(status, reason, "text/plain; charset=utf-8", std::string(body) + "\n",
                           extra);
}

// What the room writes is already valid UTF-8 (peers' text is neutralized); a browser must
// close a connection whose text is not, so anything else is made so here rather than trusted.
std::string_view as_text(std::string_view lines, std::string& fixed) {
  if (ws::valid_utf8(lines)) return lines;
  fixed.clear();
  std::size_t at = 0;
  while (at < lines.size()) {
    std::size_t nl = lines.find('\n', at);
    std::size_t end = nl == std::string_view::npos ? lines.size() : nl;
    fixed += net::neutralize(lines.substr(at, end - at));
    if (nl != std::string_view::npos) fixed += '\n';
    at = end + 1;
  }
  return fixed;
}

// Browser -> room: each text message is a line (or several, at LFs) of the room's protocol.
asio::awaitable<void> to_room(wss::connection& conn, session::stream_socket& pair) {
  for (;;) {
    auto msg = co_await conn.read_message();
    if (!msg) co_return;
    msg->push_back('\n');
    auto [ec, n] = co_await asio::async_write(pair, asio::buffer(*msg), tok);
    if (ec) co_return;
  }
}

// Room -> browser: what the room wrote, up to its last complete line, as one text message
// (a busy room's pass gives many lines one frame); the next read only once it is written,
// so a browser that does not read fills its member's queue as a slow nc does. Between
// reads only an unfinished line is kept: an idle browser's bridge holds no read buffer.
asio::awaitable<void> from_room(wss::connection& conn, session::stream_socket& pair,
                                std::size_t longest_line) {
  thread_local std::vector<char> scratch(64 * 1024);  // the web listener's one thread
  std::string carry;  // an unfinished last line, at most longest_line
  for (;;) {
    // Read first, wait only when there is nothing: in a busy room the room has written more
    // while the last message went out, and a readiness wait would cost an epoll_ctl a read.
    std::error_code ec;
    const std::size_t n = pair.read_some(asio::buffer(scratch), ec);  // the pair is non-blocking
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      auto [wec] = co_await pair.async_wait(asio::socket_base::wait_read, tok);
      if (wec) co_return;
      continue;
    }
    if (ec) co_return;
    std::string_view got(scratch.data(), n);
    if (!carry.empty()) {
      carry.append(got);
      got = carry;
    }
    const std::size_t nl = got.rfind('\n');
    // A line longer than the room ever writes cannot be waited for: it goes as it is.
    const std::size_t take = nl != std::string_view::npos ? nl + 1
                             : got.size() >= longest_line ? got.size()
                                                          : 0;
    std::string rest;
    if (take < got.size()) rest.assign(got.substr(take));
    if (take != 0) {
      std::string fixed;
      // send_text frames the bytes before its first suspension, so `scratch` may be reused.
      if (!co_await conn.send_text(as_text(got.substr(0, take), fixed))) co_return;
    }
    carry.swap(rest);
  }
}

struct bridge_count {
  std::mutex& mu;
  std::condition_variable& done;
  std::size_t& n;
  bridge_count(std::mutex& m, std::condition_variable& d, std::size_t& count)
      : mu(m), done(d), n(count) {
    std::lock_guard lock(mu);
    ++n;
  }
  ~bridge_count() {
    std::lock_guard lock(mu);
    if (--n == 0) done.notify_all();
  }
};

}  // namespace

void chat_server::impl::open_web() {
  if (opt.web->is_unix())
    throw std::invalid_argument("--web needs a TCP endpoint (a browser cannot reach unix:)");
  web = std::make_unique<session::stream_server>(1);
  web->listen(*opt.web);
  std::error_code ec;
  const auto bound = web->local_endpoint().host();
  const auto v4 = net::ipv4_address::parse(bound, ec);
  if (!ec) {
    web_loopback = v4.is_loopback();
  } else {
    const auto v6 = net::ipv6_address::parse(bound, ec);
    web_loopback = !ec && v6.is_loopback();
  }
}

session::stream_server::hooks chat_server::impl::web_hooks() {
  session::stream_server::hooks h;
  h.max_per_address = opt.max_conns_per_ip;
  h.admit = [this] { return web_conns.try_admit(); };
  h.refused = [this](stream_socket* sock, session::refusal) {
    web_refused.fetch_add(1, std::memory_order_relaxed);
    if (!sock || tls) return;  // a TLS client could not read a plaintext answer
    std::string answer = plain(503, "Service Unavailable", "too many connections, try again later");
    (void)::send(sock->native_handle(), answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  };
  h.serve = [this](stream_socket& sock, unsigned) -> asio::awaitable<void> {
    struct release {
      session::connection_count& c;
      ~release() { c.release(); }
    } counted{web_conns};
    co_await serve_web(sock);
  };
  return h;
}

// One HTTP connection: one request, answered and closed, or upgraded and bridged.
asio::awaitable<void> chat_server::impl::serve_web(stream_socket& sock) {
  using namespace asio::experimental::awaitable_operators;
  wss::ws_stream stream(sock, tls.get());
  const auto limit = opt.opening_timeout;
  // One deadline for the TLS handshake and the request head together, as a room member's
  // opening has: a client that stalls in either holds a web slot for no longer.
  const auto opened_by = std::chrono::steady_clock::now() + limit;
  if (stream.is_tls()) {
    bool plaintext = false;
    std::string told = plain(400, "Bad Request", "this page is served over HTTPS");
    session::deadline d;
    d.expires_at(opened_by);
    auto v = co_await (session::accept_tls(stream, told, plaintext) || session::watch_deadline(d));
    if (v.index() == 1 || std::get<0>(v) || plaintext) co_return;
  }
  std::string buf;
  std::size_t head_size = 0;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      opened_by - std::chrono::steady_clock::now());
  if (left.count() <= 0) co_return;
  auto got = co_await wss::read_head(stream, buf, head_size, left);
  // (Answers are named before they are awaited: GCC 12 destroys a co_await's temporaries
  // twice.)
  if (got == wss::head_status::too_big) {
    std::string answer = plain(431, "Request Header Fields Too Large", "request head over 8 KiB");
    co_await wss::write_all(stream, answer, limit);
    co_return;
  }
  if (got != wss::head_status::complete) co_return;
  ws::request req;
  std::string why;
  if (!ws::parse_request(std::string_view(buf).substr(0, head_size), req, why)) {
    std::string answer = plain(400, "Bad Request", why);
    co_await wss::write_all(stream, answer, limit);
    co_return;
  }
  std::string_view path = req.target;
  path = path.substr(0, path.find('?'));
  if (path != "/ws") {
    const chat::web_file* f =
        path == "/index.html" ? chat::find_web_file("/") : chat::find_web_file(path);
    std::string answer;
    if (!f) {
      answer = plain(404, "Not Found", "not found");
    } else if (req.method != "GET" && req.method != "HEAD") {
      answer = plain(405, "Method Not Allowed", "GET only", "Allow: GET, HEAD\r\n");
    } else {
      web_pages.fetch_add(1, std::memory_order_relaxed);
      answer = ws::http_response(200, "OK", f->content_type, f->body, page_headers);
      if (req.method == "HEAD") answer.resize(answer.find("\r\n\r\n") + 4);
    }
    co_await wss::write_all(stream, answer, limit);
    co_return;
  }
  std::string peer = "ws:" + session::peer_name(sock);
  std::string refused;
  std::string answer;
  if (!req.is_upgrade()) {
    refused = "not a WebSocket handshake";
    answer = plain(426, "Upgrade Required", "a WebSocket endpoint (RFC 6455, version 13)",
                   "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
  } else if (!wss::host_allowed(req.host, web_loopback, opt.web_origins)) {
    refused = "host not allowed on a loopback listener: " + net::neutralize(req.host);
    answer = plain(403, "Forbidden", "this room is for this machine only (Host must be loopback)");
  } else if (!wss::origin_allowed(req, stream.is_tls(), opt.web_origins)) {
    refused = "origin not allowed: " + net::neutralize(req.origin);
    answer = plain(403, "Forbidden", "origin not allowed (chat serve --web-origin)");
  } else if (web_closed) {
    refused = "server closing";
    answer = plain(503, "Service Unavailable", "the room is closing");
  }
  if (!refused.empty()) {
    web_refused.fetch_add(1, std::memory_order_relaxed);
    asio::post(io, [this, peer, refused] {
      rejected.fetch_add(1, std::memory_order_relaxed);
      if (callback)
        callback(chat_event{chat_event::type::rejected,
                            std::chrono::system_clock::now(),
                            {},
                            peer,
                            {},
                            {},
                            refused});
    });
    co_await wss::write_all(stream, answer, limit);
    co_return;
  }

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
    std::string busy = plain(503, "Service Unavailable", "out of descriptors");
    co_await wss::write_all(stream, busy, limit);
    co_return;
  }
  net::unique_fd room_end(sv[1]);
  session::stream_socket pair(sock.get_executor(),
                              asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), sv[0]);
  std::error_code nb;
  pair.non_blocking(true, nb);  // from_room's reads after a readiness wait never block the thread
  std::string switching = ws::switching_protocols(req.key);
  if (!co_await wss::write_all(stream, switching, limit)) co_return;

  std::error_code e;
  auto from = sock.remote_endpoint(e);
  std::string key =
      e ? peer : session::address_key(from.data(), static_cast<socklen_t>(from.size()));
  bridge_count counted(bridges_mu, bridges_done, bridges);
  asio::post(io, [this, fd = std::move(room_end), peer, key]() mutable {
    std::error_code ec;
    stream_socket s(io);
    s.assign(asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), fd.release(), ec);
    if (ec) return;
    admit_web(std::move(s), std::move(peer), std::move(key));
  });

  wss::connection_options co;
  // A line a little over --max-line still reaches the room, which refuses it as it does
  // nc's; far over, the message is refused here (1009) before it is buffered.
  co.max_message = 2 * opt.max_line + 64;
  co.ping_interval = opt.web_ping_interval;
  co.pong_timeout = opt.web_ping_interval;
  // The room drops a member that does not read after --drop-after and closes it after
  // --close-grace; the bridge, stuck in its write meanwhile, gives up a little later.
  co.write_timeout = std::max<std::chrono::milliseconds>(
      std::chrono::seconds(10), opt.drop_after + 2 * opt.close_grace + std::chrono::seconds(2));
  co.close_timeout = opt.close_grace;
  auto conn =
      std::make_shared<wss::connection>(stream, co, std::string_view(buf).substr(head_size));
  const std::size_t longest = 3 * opt.max_line + 64 + 16;
  auto v = co_await (to_room(*conn, pair) || from_room(*conn, pair, longest) || conn->keepalive());
  pair.shutdown(asio::socket_base::shutdown_both, e);  // the room's member sees its end
  pair.close(e);
  ws::close_code code = v.index() == 1
                            ? (web_closed ? ws::close_code::going_away : ws::close_code::normal)
                            : ws::close_code::going_away;
  std::string reason = v.index() == 1 ? std::string() : conn->why();
  co_await conn->close(code, reason);
}

// On the room's loop: a browser's bridge end becomes a member, unless the room is full.
void chat_server::impl::admit_web(stream_socket room_end, std::string peer, std::string key) {
  std::error_code ignored;
  if (closing) {
    room_end.close(ignored);
    return;
  }
  if (opt.max_clients != 0 && members >= opt.max_clients) {
    reject(room_end, fmt::format("the room is full ({} members)", opt.max_clients),
           std::move(peer));
    return;
  }
  admit(std::move(room_end), {}, true, std::move(peer), std::move(key));
}

// After the room has stopped: its members' ends are closed, so each bridge passes the
// goodbye on and ends its close handshake (close_grace); then the listener stops, closing
// whatever is left (a browser that never answered).
void chat_server::impl::stop_web() {
  if (!web) return;
  {
    std::unique_lock lock(bridges_mu);
    bridges_done.wait_for(lock, opt.close_grace + std::chrono::seconds(1),
                          [this] { return bridges == 0; });
  }
  web->stop();
}

std::string chat_server::web_url() const {
  if (!impl_->web) return {};
  const net::endpoint& at = impl_->web->local_endpoint();
  std::string host = at.host();
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";  // opens here; elsewhere, its name
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return fmt::format("{}://{}:{}/", impl_->tls ? "https" : "http", host, at.port());
}

}  // namespace sockit::service
