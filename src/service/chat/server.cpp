// chat_server: its lifecycle (start, stop, stats) and the members' comings and goings:
// admission (accept or turn away), entering a room, leaving, being dropped, the idle
// sweep, and the room's closing. All on the one loop of a session::stream_server.
#include "server.hpp"

#include <sys/socket.h>
#include <time.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/write.hpp>
#include <cmath>
#include <stdexcept>

#include "sockit/net/socket.hpp"
#include "sockit/service/chat_lines.hpp"
#include "sockit/session/deadline.hpp"
#include "sockit/session/io_pool.hpp"

namespace sockit::service {

namespace {

constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);

// Join and leave notices wait this long so that a burst of them (a thousand clients
// connecting) costs one write per member per batch rather than one per notice: sent one
// at a time, N joins cost N^2/2 sends. Anything else said in the room sends them first.
constexpr std::chrono::milliseconds notice_delay{10};

}  // namespace

chat_server::impl::impl(chat_options o)
    : opt(std::move(o)),
      rooms(opt.lobby, opt.history,
            {[this](chat::room_member& m) { drop(chat::as_member(m)); },
             [this] { flushes.schedule(); }, [this] { arm_notices(); }}) {
  if (opt.max_line == 0) throw std::invalid_argument("--max-line must be at least 1");
  if (!opt.tls.cert_pem.empty())
    tls = session::make_tls_server_context(opt.tls.cert_pem, opt.tls.key_pem);
  // One relayed line at its largest: every byte of it may become U+FFFD (3 bytes), plus
  // the timestamp and the sender's nick.
  const std::size_t biggest_line = 3 * opt.max_line + 64;
  if (opt.max_queue < biggest_line)
    throw std::invalid_argument(fmt::format(
        "--max-queue must hold at least one full line: {} bytes or more with --max-line {} "
        "(a line of invalid bytes triples when they become U+FFFD)",
        biggest_line, opt.max_line));
  if (!check_room(opt.lobby).empty()) throw std::invalid_argument(check_room(opt.lobby));
  // Written as !(x >= ...) so that NaN is refused too.
  if (!(opt.rate >= 0) || !std::isfinite(opt.rate) || !(opt.burst >= 1) ||
      !std::isfinite(opt.burst))
    throw std::invalid_argument("--rate must be 0 (no limit) or more, and --burst at least 1");
  if (opt.max_queue > (std::size_t{1} << 40))
    throw std::invalid_argument("--max-queue must be at most 1 TiB");
  flushes.before_each([this] { return rooms.hand_out_all(); });
  full.full_at = opt.max_queue;
  full.window = opt.drop_after;
  full.added = [this] { arm_stall_check(); };
}

void chat_server::impl::emit(chat_event::type what, const member* m, std::string text,
                             std::string detail) {
  if (!callback) return;
  chat_event e{
      what, std::chrono::system_clock::now(), {}, {}, {}, std::move(text), std::move(detail)};
  if (m) {
    e.nick = m->nick;
    e.peer = m->peer;
    if (m->where) e.room = m->where->name;
  }
  callback(e);
}

const std::string& chat_server::impl::timestamp() {
  std::time_t t = std::time(nullptr);
  if (t != stamp_second || stamp.empty()) {
    std::tm tm{};
    ::localtime_r(&t, &tm);
    stamp = chat_lines::time_prefix(tm.tm_hour, tm.tm_min, tm.tm_sec);
    stamp_second = t;
  }
  return stamp;
}

chat::shared_message chat_server::impl::line(std::string_view body) {
  std::string s;
  s.reserve(12 + body.size() + 1);
  s += timestamp();
  s += body;
  s += '\n';
  return std::make_shared<const std::string>(std::move(s));
}

// The rooms' notice hook: one timer for every room's batch.
void chat_server::impl::arm_notices() {
  if (notice_timer_armed || closing) return;
  notice_timer_armed = true;
  notice_timer.expires_after(notice_delay);
  notice_timer.async_wait([this](std::error_code ec) {
    notice_timer_armed = false;
    if (!ec && !closing) rooms.flush_notices();
  });
}

void chat_server::impl::enter(member& m, chat::room& r) {
  // A member whose queue cannot take its welcome (what the room it left handed it filled
  // it) is dropped, and `r` may have gone with it: each step checks m.gone and returns,
  // which drops the slow members found so far.
  chat::slow_members slow(rooms.dropper());
  rooms.add(m, r, slow);
  reply(m, chat_lines::welcome(r.name, m.nick, r.members.size()));
  if (m.gone) return;
  // Replay the newest history that fits in half the queue, so replay alone never drops.
  for (std::size_t k = rooms.replay_from(r, opt.max_queue / 2); k < r.history.size() && !m.gone;
       ++k)
    rooms.send(m, r.history[k]);
  if (m.gone) return;
  rooms.post_notice(r, line(chat_lines::joined(m.nick, r.name)));
}

/// Takes `m` out of the room and the nick table and closes it: gracefully (what is queued,
/// plus `goodbye`, is written first, for up to close_grace) or at once.
void chat_server::impl::remove(member& m, bool graceful, std::string_view goodbye) {
  if (m.gone) return;
  auto keep = m.self();
  chat::slow_members slow(rooms.dropper());     // dropped last, once `m` is out
  if (m.where) rooms.hand_out(*m.where, slow);  // what was said before the goodbye goes first
  if (slow.contains(&m) && !m.refusing) {
    graceful = false;  // it could not take those lines: no goodbye after a gap
    goodbye = {};
  }
  if (!goodbye.empty()) m.out.push(line(goodbye));
  m.gone = true;
  if (m.rate_waiting) m.pass_wait.cancel();
  nicks.erase(chat::lower(m.nick));
  rooms.take_out(m);
  m.where = nullptr;
  --members;
  active.fetch_sub(1, std::memory_order_relaxed);
  if (graceful) {
    m.out.close();  // the writer closes the socket once the queue is written
    m.grace = std::make_unique<asio::steady_timer>(io, opt.close_grace);
    m.grace->async_wait([keep](std::error_code) {
      std::error_code ignored;
      keep->sock.close(ignored);  // a reader that never takes its goodbye: cut it off
    });
  } else {
    m.out.abort();
    std::error_code ignored;
    m.sock.shutdown(asio::socket_base::shutdown_both, ignored);
    m.sock.close(ignored);
  }
}

void chat_server::impl::leave(member& m, std::string_view why, bool graceful,
                              std::string_view goodbye) {
  if (m.gone) return;
  std::string room_name = m.where ? m.where->name : std::string();
  emit(chat_event::type::left, &m, {}, std::string(why));
  std::string notice = chat_lines::left(m.nick, why);
  remove(m, graceful, goodbye);
  notify(room_name, notice);
}

/// A member too slow to take its share: its queue full and nothing taken for --drop-after,
/// or at twice --max-queue. Out of any room only just after leaving one (rooms::take_out):
/// the notice goes to the room it left. What waited for it is discarded, but for the rest of
/// a line the kernel has begun, so that its goodbye, the one line still queued, is a line of
/// its own; it is written if the member reads within close_grace (a member that never
/// reads holds its socket that long, then it is closed).
void chat_server::impl::drop(member& m) {
  if (m.gone) return;
  std::string room_name = m.where ? m.where->name : m.left_room;
  using chat_lines::drop_reason;
  dropped.fetch_add(1, std::memory_order_relaxed);
  std::string detail(chat_lines::drop_words(m.why));
  if (m.why == drop_reason::reading_slowly)
    detail += fmt::format(" ({} bytes waiting)", m.out.queued_bytes());
  else if (m.why == drop_reason::not_reading)
    detail += " (queue full)";
  else
    detail += " (more input waiting than the room holds, over --rate)";
  emit(chat_event::type::dropped, &m, {}, std::move(detail));
  std::string notice = chat_lines::dropped(m.nick, m.why);
  m.refusing = true;
  m.out.discard_unsent();
  remove(m, true, chat_lines::dropped_goodbye(m.why));
  notify(room_name, notice);
}

// By name: the room may have been removed (it emptied) meanwhile.
void chat_server::impl::notify(const std::string& room_name, std::string_view text) {
  if (auto* r = rooms.find(room_name)) rooms.post_notice(*r, line(text));
}

std::string chat_server::impl::guest_name() {
  for (;;) {
    std::string n = fmt::format("guest{}", next_guest++);
    if (!nicks.count(n)) return n;
  }
}

void chat_server::impl::reject(stream_socket& sock, std::string_view why, std::string peer) {
  rejected.fetch_add(1, std::memory_order_relaxed);
  if (peer.empty() && callback) peer = session::peer_name(sock);
  std::string msg = timestamp() + chat_lines::turned_away(why) + "\n";
  // One best-effort non-blocking send: the client may read why before the close.
  (void)::send(sock.native_handle(), msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  std::error_code ignored;
  sock.close(ignored);
  if (callback) {
    callback(chat_event{chat_event::type::rejected,
                        std::chrono::system_clock::now(),
                        {},
                        std::move(peer),
                        {},
                        {},
                        std::string(why)});
  }
}

session::stream_server::hooks chat_server::impl::hooks() {
  session::stream_server::hooks h;
  h.adopt = [this](stream_socket sock, unsigned, session::address_slot slot) {
    admit(std::move(sock), std::move(slot));
  };
  h.max_per_address = opt.max_conns_per_ip;
  h.admit = [this] { return opt.max_clients == 0 || members < opt.max_clients; };
  h.refused = [this](stream_socket* sock, session::refusal why) {
    if (sock && why == session::refusal::per_address) {
      reject(*sock,
             fmt::format("too many connections from your address ({})", opt.max_conns_per_ip));
    } else if (sock) {
      reject(*sock, fmt::format("the room is full ({} members)", opt.max_clients));
    } else {
      rejected.fetch_add(1, std::memory_order_relaxed);  // out of descriptors: already closed
    }
  };
  h.on_stop = [this](unsigned) { close_room(); };
  return h;
}

void chat_server::impl::admit(stream_socket sock, session::address_slot slot, bool from_web,
                              std::string peer, std::string key) {
  std::error_code ignored;
  if (opt.socket_buffer != 0) {
    sock.set_option(asio::socket_base::send_buffer_size(static_cast<int>(opt.socket_buffer)),
                    ignored);
  }
  // Non-blocking, so write_queue::push can hand a line to an idle member's socket at once,
  // and the reader's reads after a readiness wait can never block the room.
  std::error_code nb;
  sock.non_blocking(true, nb);
  if (nb) {
    rejected.fetch_add(1, std::memory_order_relaxed);
    sock.close(ignored);
    return;
  }
  // A web member's TLS, if any, was the web listener's: its bridge speaks plaintext lines.
  auto m = std::make_shared<member>(std::move(sock), from_web ? nullptr : tls.get(), opt.max_queue,
                                    opt.max_line, flushes, full);
  m->peer = peer.empty() ? session::peer_name(m->sock) : std::move(peer);
  m->address_key = std::move(key);
  if (opt.rate > 0) m->bucket = session::token_bucket(opt.rate, opt.burst, steady::now());
  m->slot = std::move(slot);
  if (!m->stream.is_tls() && opt.token.empty()) {
    ++members;
    join_room(std::move(m));
    return;
  }
  // Newcomers in their opening are not members yet (strangers must not fill a private room
  // by connecting and saying nothing): they have a cap of their own, besides the per-address
  // one, and --max-clients is checked again when one has passed.
  if (opening.size() >= max_opening) {
    rejected.fetch_add(1, std::memory_order_relaxed);
    m->sock.close(ignored);
    if (callback) {
      callback(chat_event{chat_event::type::rejected,
                          std::chrono::system_clock::now(),
                          {},
                          m->peer,
                          {},
                          {},
                          "too many newcomers in their TLS handshake or token"});
    }
    return;
  }
  opening.emplace(m.get(), m);
  asio::co_spawn(io, open_member(std::move(m)), asio::detached);
}

// A TLS member's handshake and a private room's token, bounded together by opening_timeout;
// only then does the newcomer get a nick and a room.
asio::awaitable<void> chat_server::impl::open_member(std::shared_ptr<member> m) {
  using namespace asio::experimental::awaitable_operators;
  session::deadline d;
  d.expires_after(opt.opening_timeout);
  std::string refused;
  auto v = co_await (opening_steps(*m, refused) || session::watch_deadline(d));
  if (v.index() == 1) refused = "timed out before joining (TLS handshake or token)";
  opening.erase(m.get());
  if (closing && refused.empty()) refused = "server closing";
  if (refused.empty() && opt.max_clients != 0 && members >= opt.max_clients)
    refused = fmt::format("the room is full ({} members)", opt.max_clients);
  if (refused.empty()) {
    ++members;
    join_room(std::move(m));
    co_return;
  }
  rejected.fetch_add(1, std::memory_order_relaxed);
  std::error_code ignored;
  m->sock.shutdown(asio::socket_base::shutdown_both, ignored);
  m->sock.close(ignored);
  m->slot.release();
  if (callback) {
    callback(chat_event{chat_event::type::rejected,
                        std::chrono::system_clock::now(),
                        {},
                        m->peer,
                        {},
                        {},
                        refused});
  }
}

asio::awaitable<void> chat_server::impl::opening_steps(member& m, std::string& refused) {
  if (m.stream.is_tls()) {
    bool plaintext = false;  // then told in the room's own protocol; nothing it sent is read
    std::string told = timestamp() +
                       "*** this room speaks TLS: sockit chat join --tls, ncat --ssl, openssl "
                       "s_client\n";
    auto ec = co_await session::accept_tls(m.stream, told, plaintext);
    if (plaintext) {
      refused = "tls: a plaintext client";
      co_return;
    }
    if (ec) {
      refused = "tls: " + ec.message();
      co_return;
    }
  }
  if (opt.token.empty()) co_return;
  std::string prompt = timestamp() + std::string(chat_lines::token_prompt) + "\n";
  auto [wec, written] = co_await asio::async_write(m.stream, asio::buffer(prompt), token);
  if (wec) {
    refused = "connection lost: " + wec.message();
    co_return;
  }
  // The first line, at most 2 KiB (a token is 32 hex digits; a file's at most 1 KiB). What follows
  // it in the same read is the member's first words, handled once it has joined.
  std::string got;
  std::array<char, 2048> buf;  // a token file's token may be up to 1 KiB
  std::size_t nl;
  while ((nl = got.find('\n')) == std::string::npos) {
    if (got.size() >= buf.size()) {
      refused = "no token line";
      co_return;
    }
    auto [rec, n] =
        co_await m.stream.async_read_some(asio::buffer(buf.data(), buf.size() - got.size()), token);
    if (rec) {
      refused = "left before giving the token";
      co_return;
    }
    got.append(buf.data(), n);
  }
  std::string_view line(got.data(), nl);
  if (line.ends_with('\r')) line.remove_suffix(1);
  m.unread = got.substr(nl + 1);
  if (tokens_equal(line, opt.token)) co_return;
  std::string key = m.address_key;
  if (key.empty()) {
    std::error_code e;
    auto from = m.sock.remote_endpoint(e);
    key = e ? m.peer : session::address_key(from.data(), static_cast<socklen_t>(from.size()));
  }
  unsigned n = token_failures.record(key);
  // The member's pass_wait (its reader has not started): close_room() cancels it, so a
  // stop is not held by the delay.
  m.pass_wait.expires_after(auth_failures::delay(n));
  co_await m.pass_wait.async_wait(token);
  refused = fmt::format("wrong token ({} from this address)", n);
  if (closing) co_return;
  std::string bye = timestamp() + std::string(chat_lines::wrong_token) + "\n";
  co_await asio::async_write(m.stream, asio::buffer(bye), token);
}

// Admission proper: a guest nick, the lobby, and the member's coroutines.
void chat_server::impl::join_room(std::shared_ptr<member> m) {
  m->nick = guest_name();
  nicks[m->nick] = m.get();
  accepted.fetch_add(1, std::memory_order_relaxed);
  active.fetch_add(1, std::memory_order_relaxed);
  enter(*m, rooms.lobby());
  emit(chat_event::type::joined, m.get());
  m->out.observe(this);  // after_share waits for its writer's writes
  if (m->stream.is_tls())
    asio::co_spawn(io, tls_reader(m), asio::detached);
  else
    asio::co_spawn(io, reader(m), asio::detached);
  asio::co_spawn(io, writer(std::move(m)), asio::detached);
}

asio::awaitable<void> chat_server::impl::idle_sweeper() {
  auto every = std::max<steady::duration>(opt.idle_timeout / 4, std::chrono::milliseconds(50));
  for (;;) {
    sweep.expires_after(every);
    auto [ec] = co_await sweep.async_wait(token);
    if (ec || closing) co_return;
    auto now = steady::now();
    std::vector<std::shared_ptr<member>> idle;
    for (auto& [name, r] : rooms.all())
      for (auto& m : r.members)
        if (now - chat::as_member(*m).last_active >= opt.idle_timeout)
          idle.push_back(chat::as_member(*m).self());
    for (auto& m : idle) {
      idle_closed.fetch_add(1, std::memory_order_relaxed);
      leave(
          *m, "idle timeout", true,
          fmt::format("*** disconnected: nothing received for {} s",
                      std::chrono::duration_cast<std::chrono::seconds>(opt.idle_timeout).count()));
    }
  }
}

// On the loop: stop accepting, say goodbye to everyone, let the writers drain.
void chat_server::impl::close_room() {
  rooms.flush_notices();  // what happened before the goodbye is read before it
  closing = true;
  sweep.cancel();
  notice_timer.cancel();
  stall_timer.cancel();
  full.list.clear();
  std::vector<std::shared_ptr<member>> all;
  for (auto& [name, r] : rooms.all())
    for (auto& m : r.members) all.push_back(chat::as_member(*m).self());
  if (callback) {
    callback(chat_event{chat_event::type::closing,
                        std::chrono::system_clock::now(),
                        {},
                        {},
                        {},
                        {},
                        std::to_string(all.size())});
  }
  for (auto& m : all) {
    emit(chat_event::type::left, m.get(), {}, "server closing");
    remove(*m, true, "*** the room is closing (server shutting down), bye");
  }
  rooms.all().clear();
  for (auto& [raw, m] : opening) {  // newcomers still in their handshake or token
    std::error_code ignored;
    m->sock.close(ignored);
    m->pass_wait.cancel();  // a wrong token's delay
  }
}

chat_server::chat_server(chat_options options) : impl_(std::make_shared<impl>(std::move(options))) {
  impl_->server.listen(impl_->opt.endpoint);
  if (impl_->opt.web) impl_->open_web();
}

chat_server::~chat_server() { stop(); }

net::endpoint chat_server::local_endpoint() const { return impl_->server.local_endpoint(); }

const std::string& chat_server::identity() const { return impl_->opt.tls.fingerprint; }

void chat_server::on_event(std::function<void(const chat_event&)> callback) {
  impl_->callback = std::move(callback);
}

void chat_server::start() {
  if (impl_->started.exchange(true)) return;
  if (impl_->opt.idle_timeout.count() > 0) {
    asio::co_spawn(impl_->io, impl_->idle_sweeper(), asio::detached);
  }
  impl_->server.start(impl_->hooks());
  if (impl_->web) impl_->web->start(impl_->web_hooks());
}

// The room first, so that its goodbyes reach browsers through their bridges; then the web
// listener, once the bridges have passed them on (see stop_web).
void chat_server::stop() {
  impl_->web_closed = true;
  impl_->server.stop();
  impl_->stop_web();
}

void chat_server::wait() { impl_->server.wait(); }

chat_stats chat_server::stats() const {
  auto& i = *impl_;
  constexpr auto r = std::memory_order_relaxed;
  return chat_stats{i.accepted.load(r),    i.rejected.load(r),         i.active.load(r),
                    i.messages.load(r),    i.rooms.deliveries.load(r), i.dropped.load(r),
                    i.idle_closed.load(r), i.too_long.load(r)};
}

}  // namespace sockit::service
