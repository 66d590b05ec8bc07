// Each chat member's two coroutines: the reader (plaintext: readiness wait, synchronous
// reads into the server's one scratch buffer; TLS: reads through the stream; either way lines
// handled a share per turn) and the writer (drains the member's write_queue, then closes the
// socket).
#include <fmt/format.h>
#include <asio/post.hpp>

#include "server.hpp"

namespace sockit::service {

namespace {
constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);
constexpr auto clock_now = [] { return chat::steady::now(); };
}  // namespace

/// One line from `m`; false when `m` has left (the rest of its input is not read).
bool chat_server::impl::on_line(member& m, std::string_view text, session::line_kind kind) {
  if (m.gone) return false;
  if (kind == session::line_kind::too_long) {
    too_long.fetch_add(1, std::memory_order_relaxed);
    emit(chat_event::type::line_too_long, &m);
    reply(m, fmt::format("*** line too long (over {} bytes), not sent", opt.max_line));
  } else {
    handle(m, text);
  }
  return !m.gone;
}

namespace {

// A reader's share of one loop turn: its lines may add at most messages_per_turn messages,
// max_queue / 8 bytes or copies_per_turn copies (the rooms' sent_* counts) before it lets
// the flush pass go first.
struct turn_share {
  const chat::rooms& rooms;
  std::uint64_t max_bytes, max_messages, max_copies;
  std::uint64_t bytes0 = 0, messages0 = 0, copies0 = 0;
  void begin() {
    bytes0 = rooms.sent_bytes;
    messages0 = rooms.sent_messages;
    copies0 = rooms.sent_copies;
  }
  bool left() const {
    return rooms.sent_bytes - bytes0 < max_bytes &&
           rooms.sent_messages - messages0 < max_messages &&
           rooms.sent_copies - copies0 < max_copies;
  }
};

}  // namespace

// After a member used up its share (or its --rate): waits until the flush pass has handed
// what its lines produced to the kernel (or just takes turns when nothing is pending), then
// until the members' writes still in flight have finished: those members' sockets were full
// (a reader slower than the room) or they are TLS members, written asynchronously by their
// writer coroutines. A reader not held back by them fills their queues faster than they
// drain and gets honest readers dropped (issue 14's flooder). At most write_pace per share:
// a member that never reads must not hold the room; its queue fills and it is dropped.
// Last, a member past its --burst waits for its next line's token; meanwhile its input
// stays in its socket, so TCP pushes back on it.
asio::awaitable<void> chat_server::impl::after_share(member& m) {
  if (flushes.pending()) {
    m.pass_wait.expires_at(asio::steady_timer::time_point::max());
    flushes.wake_after(&m.pass_wait);
    co_await m.pass_wait.async_wait(token);  // cancelled once the pass has run
  } else {
    co_await asio::post(io, asio::use_awaitable);
  }
  if (writes_in_flight != 0 && !m.gone) {
    m.pass_wait.expires_after(write_pace);
    pace_waiters.push_back(&m.pass_wait);
    co_await m.pass_wait.async_wait(token);  // cancelled when the last write in flight ends
    // Timed out (still listed) or woken (the list was cleared): never leave it behind.
    std::erase(pace_waiters, &m.pass_wait);
  }
  if (m.gone || m.bucket.ready()) co_return;
  // IRC's "Excess Flood": over its rate with more waiting to be read than the room will
  // hold for it. Without this a member could send a long backlog and close, and stay (with
  // its --max-clients and per-address places) until the backlog had trickled out at --rate.
  if (input_waiting(m) > excess_input()) {
    m.why = chat_lines::drop_reason::excess_flood;
    drop(m);
    co_return;
  }
  auto wait = m.bucket.wait(steady::now());
  if (wait == steady::duration::zero()) co_return;
  m.pass_wait.expires_after(wait);
  m.rate_waiting = true;  // remove() cancels it, so a slow --rate never holds a leaver
  co_await m.pass_wait.async_wait(token);
  m.rate_waiting = false;
}

// Waits until the socket is readable, then reads what is there into the shared scratch
// buffer and handles its complete lines in the same turn of the loop, up to its share
// (turn_share); past that, waits for the flush pass before handling more.
asio::awaitable<void> chat_server::impl::reader(std::shared_ptr<member> m) {
  turn_share share{rooms, opt.max_queue / 8, messages_per_turn, copies_per_turn};
  auto each_line = [&](std::string_view text, session::line_kind kind) {
    return on_line(*m, text, kind) && m->bucket.spend(clock_now) && share.left();
  };
  auto stop = [&] { return !share.left() || !m->bucket.ready(); };
  bool spent = false;  // used up its share: let the pass go first
  for (;;) {
    if (spent) {
      co_await after_share(*m);
      if (m->gone) co_return;
    }
    spent = false;
    if (m->unread.empty()) {
      auto [ec] = co_await m->sock.async_wait(asio::socket_base::wait_read, token);
      if (m->gone) co_return;
      if (ec) {
        leave(*m, fmt::format("connection lost: {}", ec.message()), false);
        co_return;
      }
    }
    share.begin();
    if (!m->unread.empty()) {
      std::size_t used = m->lines.feed(m->unread, each_line);
      if (m->gone) co_return;
      m->unread.erase(0, used);
      if (!m->unread.empty() || stop()) {
        spent = true;
        continue;
      }
    }
    // Lines that queue nothing (empty ones) use no share: the bytes read are bounded too.
    for (std::size_t taken = 0; taken < read_budget;) {
      std::error_code rec;
      // Near its --rate, only what its tokens can use: the rest stays in the kernel (TCP
      // pushes back) rather than in `unread`.
      std::size_t want = read_size(*m);
      std::size_t n = m->sock.read_some(asio::buffer(scratch.data(), want), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) break;
      m->last_active = steady::now();
      if (rec == asio::error::eof) {
        finish(*m);
        co_return;
      }
      if (rec) {
        leave(*m, fmt::format("connection lost: {}", rec.message()), false);
        co_return;
      }
      std::size_t used = m->lines.feed(std::string_view(scratch.data(), n), each_line);
      if (m->gone) co_return;
      if (used < n) m->unread.assign(scratch.data() + used, n - used);
      if (used < n || stop()) {
        spent = true;
        break;
      }
      taken += n;
      if (n < want) break;  // most likely drained; the next wait tells
      if (taken >= read_budget) spent = true;
    }
  }
}

// A TLS member: OpenSSL may hold decrypted bytes the socket's readiness would not show, so
// it is read through the stream, one record (at most 16 KiB) at a time, into its own
// buffer; its lines are handled a share per turn as above.
asio::awaitable<void> chat_server::impl::tls_reader(std::shared_ptr<member> m) {
  turn_share share{rooms, opt.max_queue / 8, messages_per_turn, copies_per_turn};
  auto each_line = [&](std::string_view text, session::line_kind kind) {
    return on_line(*m, text, kind) && m->bucket.spend(clock_now) && share.left();
  };
  m->tls_buf.resize(16 * 1024);
  // One share spans reads until it is used up (each read of a record is a loop turn of its
  // own, so a share per read would never hold a flooder back).
  share.begin();
  for (;;) {
    if (!m->unread.empty()) {
      std::size_t used = m->lines.feed(m->unread, each_line);
      if (m->gone) co_return;
      m->unread.erase(0, used);
    } else {
      auto [ec, n] = co_await m->stream.async_read_some(
          asio::buffer(m->tls_buf.data(), std::min(m->tls_buf.size(), read_size(*m))), token);
      if (m->gone) co_return;
      session::maybe_tls<stream_socket>::map_truncation(ec);
      if (ec == asio::error::eof) {
        finish(*m);
        co_return;
      }
      if (ec) {
        leave(*m, fmt::format("connection lost: {}", ec.message()), false);
        co_return;
      }
      m->last_active = steady::now();
      std::size_t used = m->lines.feed(std::string_view(m->tls_buf.data(), n), each_line);
      if (m->gone) co_return;
      if (used < n) m->unread.assign(m->tls_buf.data() + used, n - used);
    }
    if (!m->unread.empty() || !share.left() || !m->bucket.ready()) {
      co_await after_share(*m);
      if (m->gone) co_return;
      share.begin();
    }
  }
}

// The member's input has ended: its last line, if unterminated, whatever the share
// (nothing more will come), then it leaves.
void chat_server::impl::finish(member& m) {
  bool stayed = m.lines.finish([this, &m](std::string_view text, session::line_kind kind) {
    return on_line(m, text, kind);
  });
  if (stayed) leave(m, "closed", true);
}

asio::awaitable<void> chat_server::impl::writer(std::shared_ptr<member> m) {
  auto ec = co_await m->out.run();
  // TLS: the end of our writes (close_notify), within the goodbye's grace.
  if (!ec && m->stream.is_tls()) co_await m->stream.async_close_notify(token);
  if (m->grace) m->grace->cancel();
  // What it sent and nobody will read: closing over it would send a reset, which can make
  // its kernel throw away the goodbye it has not read yet. A few reads at most.
  for (int i = 0; i < 4 && !ec && m->sock.is_open(); ++i) {
    std::error_code rec;
    if (m->sock.read_some(asio::buffer(scratch), rec) < scratch.size() || rec) break;
  }
  if (!m->gone) leave(*m, fmt::format("connection lost: {}", ec.message()), false);
  std::error_code ignored;
  m->sock.shutdown(asio::socket_base::shutdown_both, ignored);
  m->sock.close(ignored);
  m->slot.release();
}

}  // namespace sockit::service
