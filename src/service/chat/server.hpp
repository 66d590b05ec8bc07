// The chat server's shared state (chat_server::impl) and its member type, internal to
// src/service/chat/: server.cpp holds the lifecycle and admission (accept, turn away,
// leave, drop, stop), member_io.cpp each member's reader and writer coroutines,
// flow_control.cpp what a member may be queued and read (full queues, --drop-after,
// --rate's read sizes, excess flood), commands.cpp what each line asks for, and room.cpp
// the rooms' fan-out.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "room.hpp"
#include "sockit/service/access_token.hpp"
#include "sockit/service/chat.hpp"
#include "sockit/service/chat_lines.hpp"
#include "sockit/session/address_limits.hpp"
#include "sockit/session/line_splitter.hpp"
#include "sockit/session/stream_server.hpp"
#include "sockit/session/tls_stream.hpp"
#include "sockit/session/token_bucket.hpp"
#include "sockit/session/write_queue.hpp"

namespace sockit::service::chat {

using session::stream_socket;
using steady = std::chrono::steady_clock;

struct member;

/// Members whose queues are full (past --max-queue), watched by the server's stall check
/// until they drain or are dropped for taking nothing for --drop-after.
struct full_members {
  std::size_t full_at = 0;    // --max-queue
  steady::duration window{};  // --drop-after
  std::vector<std::weak_ptr<member>> list;
  std::function<void()> added;  // makes sure a check is due
};

/// One connected client. Lives as long as its reader or writer coroutine holds it.
/// Touched only on the server's loop.
struct member final : room_member {
  member(stream_socket s, asio::ssl::context* tls, std::size_t max_queue, std::size_t max_line,
         session::flush_pass& pass, full_members& fulls)
      : sock(std::move(s)),
        stream(sock, tls),
        out(stream, 2 * max_queue, pass),
        lines(max_line),
        pass_wait(sock.get_executor()),
        watch(fulls) {}
  /// Queues `msg` unless the member is being dropped, its queue is at twice --max-queue, or
  /// it is full and has taken nothing for --drop-after (`why` then says which).
  bool push(shared_message msg) override;
  /// Whether a full member (or one becoming full) may take more: it has read within the
  /// window. Notes its progress and puts it on the watch list.
  bool full_but_reading();
  /// Notes whether it has read since the last look (see has_read_since_mark); true, and
  /// `why` set, once it has read nothing for --drop-after.
  bool stalled(steady::time_point now);
  /// Whether it has read since it was last seen to (or since its queue filled), to tell a
  /// member that reads from one that does not. TCP: its kernel acknowledged a byte past the
  /// right edge of the receive window it had then (net::tcp_progress), which only its
  /// application's reads make room for; what its kernel still had room for then does not
  /// count. Our own writes' completions would show a slow reader's progress only every
  /// 64 KiB; elsewhere (Unix sockets) they are the measure, a chunk beyond the mark.
  bool has_read_since_mark();
  void mark_progress();
  std::shared_ptr<member> self() { return std::static_pointer_cast<member>(shared_from_this()); }

  stream_socket sock;
  // The socket itself, or TLS over it. Plaintext members are read with a readiness wait and
  // synchronous reads into the shared scratch buffer, and written directly by the flush
  // pass; TLS members (whose bytes OpenSSL may hold buffered) by reads into their own
  // `tls_buf` and by their writer coroutine.
  session::maybe_tls<stream_socket> stream;
  session::write_queue<session::maybe_tls<stream_socket>> out;
  std::vector<char> tls_buf;
  session::line_splitter lines;  // holds only an unfinished line between reads
  std::string unread;            // read, but past this turn's share of lines (rarely any)
  asio::steady_timer pass_wait;  // the reader waits here for the flush pass, when it must
  std::string peer;
  std::string address_key;  // the peer's, for token_failures: a web member's is its browser's
  steady::time_point last_active = steady::now();
  std::unique_ptr<asio::steady_timer> grace;  // bounds how long a goodbye may take
  session::address_slot slot;                 // its share of --max-conns-per-ip, till closed
  session::token_bucket bucket;               // --rate and --burst
  bool rate_waiting = false;                  // pass_wait is the rate's wait: remove() ends it

  // Past --max-queue: since when it has read nothing (see has_read_since_mark).
  full_members& watch;
  bool full = false;  // on watch.list
  bool read_while_full = false;
  chat_lines::drop_reason why = chat_lines::drop_reason::not_reading;  // when it is dropped
  bool refusing = false;     // being dropped: nothing more is queued but its goodbye
  bool no_tcp_info = false;  // not TCP: progress is our completed writes
  steady::time_point stalled_since;
  std::uint64_t edge_then = 0;  // at the mark: TCP's window edge, else our writes + 64 KiB
};

inline member& as_member(room_member& m) { return static_cast<member&>(m); }

}  // namespace sockit::service::chat

namespace sockit::service {

struct chat_server::impl final : session::write_observer {
  using member = chat::member;
  using stream_socket = session::stream_socket;
  using steady = chat::steady;

  chat_options opt;
  session::stream_server server{1};  // one loop: the room needs no locks
  asio::io_context& io = server.pool().context(0);
  // Every member's direct writes of a loop turn go out in one pass after that turn's reads,
  // paced (see flush_pass) so that a busy room batches more lines per send instead of
  // spending its whole thread on sends. It goes before the loop; members the loop still
  // holds then find it gone.
  session::flush_pass flushes{io.get_executor(), 1.0};
  std::function<void(const chat_event&)> callback;
  asio::steady_timer sweep{io};
  asio::steady_timer notice_timer{io};
  bool notice_timer_armed = false;
  chat::full_members full;  // members past --max-queue, checked by stall_timer
  asio::steady_timer stall_timer{io};
  bool stall_timer_armed = false;
  // Members read into this one buffer in turn (reads are synchronous, after a readiness
  // wait), so an idle member holds no read buffer. A member's lines are handled a share at a
  // time, and then its reader waits until the flush pass has handed what they produced to
  // the kernel: a member that sends thousands of short lines in one packet can neither hold
  // the loop nor fill the others' queues faster than they are written (each line is a copy
  // for every member). Bytes read past that share wait in `unread`.
  std::vector<char> scratch = std::vector<char>(64 * 1024);
  // A reader's share of a turn ends when its lines have added messages_per_turn messages,
  // max_queue / 8 bytes, or copies_per_turn copies (rooms' sent_* counts), so one pass
  // never owes a member more than a few shares.
  static constexpr std::uint64_t messages_per_turn = 512;
  static constexpr std::uint64_t copies_per_turn = 32768;
  static constexpr std::size_t read_budget = 256 * 1024;

  // Loop-only state.
  chat::rooms rooms;  // its hooks: drop(), the flush pass, the notice timer
  std::unordered_map<std::string, member*> nicks;  // lower-cased nick -> member
  std::uint64_t next_guest = 1;
  std::size_t members = 0;
  bool closing = false;

  std::atomic<std::uint64_t> accepted{0}, rejected{0}, active{0}, messages{0}, dropped{0},
      idle_closed{0}, too_long{0};

  std::atomic<bool> started{false};

  // TLS and private rooms (null / empty: neither). Newcomers in their opening (handshake,
  // token) are in `opening`, so that close_room() can close them too.
  std::shared_ptr<asio::ssl::context> tls;
  auth_failures token_failures;
  std::unordered_map<member*, std::shared_ptr<member>> opening;
  static constexpr std::size_t max_opening = 256;
  static constexpr std::chrono::milliseconds write_pace{20};  // after_share's longest wait
  // Members' writer-coroutine writes in flight (TLS members' every write; a plaintext
  // member's when the flush pass left it more than its socket took), and the readers
  // waiting for them to finish (see after_share).
  std::size_t writes_in_flight = 0;
  std::vector<asio::steady_timer*> pace_waiters;
  void write_started() override { ++writes_in_flight; }
  void write_finished() override {
    if (--writes_in_flight != 0) return;
    for (auto* t : pace_waiters) t->cancel();
    pace_waiters.clear();
  }

  // Cached "[HH:MM:SS] " for the current second.
  std::time_t stamp_second = 0;
  std::string stamp;

  explicit impl(chat_options o);

  // server.cpp: events, lines, lifecycle and admission.
  void emit(chat_event::type what, const member* m, std::string text = {}, std::string detail = {});
  const std::string& timestamp();
  chat::shared_message line(std::string_view body);
  void reply(member& m, std::string_view body) { rooms.send(m, line(body)); }
  void arm_notices();
  void arm_stall_check();
  void check_stalls();
  void enter(member& m, chat::room& r);
  void remove(member& m, bool graceful, std::string_view goodbye = {});
  void leave(member& m, std::string_view why, bool graceful, std::string_view goodbye = {});
  void drop(member& m);
  void notify(const std::string& room_name, std::string_view text);
  std::string guest_name();
  void reject(stream_socket& sock, std::string_view why, std::string peer = {});
  session::stream_server::hooks hooks();
  /// A new member, not yet in a room. `from_web`: a browser's bridge (web.cpp), whose own
  /// listener did its TLS and caps; `peer` and `key` are then the browser's.
  void admit(stream_socket sock, session::address_slot slot, bool from_web = false,
             std::string peer = {}, std::string key = {});
  asio::awaitable<void> open_member(std::shared_ptr<member> m);
  asio::awaitable<void> opening_steps(member& m, std::string& refused);
  void join_room(std::shared_ptr<member> m);
  asio::awaitable<void> idle_sweeper();
  void close_room();

  // web.cpp: the browser's way in: an HTTP listener of its own (its own thread) serving the
  // page and bridging each WebSocket into the room as a member over a socketpair.
  std::unique_ptr<session::stream_server> web;
  // Web connections (page fetches, handshakes, members): --max-clients and the openings' cap.
  session::connection_count web_conns{opt.max_clients == 0 ? 0 : opt.max_clients + max_opening};
  bool web_loopback = false;  // the web listener is bound to loopback: Host must say so too
  std::atomic<bool> web_closed{false};  // stop() began: no more bridges into the room
  std::atomic<std::uint64_t> web_pages{0}, web_refused{0};
  std::mutex bridges_mu;
  std::condition_variable bridges_done;
  std::size_t bridges = 0;  // live WebSocket bridges (guarded by bridges_mu)
  void open_web();
  session::stream_server::hooks web_hooks();
  asio::awaitable<void> serve_web(stream_socket& sock);
  void admit_web(stream_socket room_end, std::string peer, std::string key);
  void stop_web();

  // member_io.cpp: each member's coroutines.
  bool on_line(member& m, std::string_view text, session::line_kind kind);
  asio::awaitable<void> reader(std::shared_ptr<member> m);
  asio::awaitable<void> tls_reader(std::shared_ptr<member> m);
  asio::awaitable<void> after_share(member& m);
  std::size_t read_size(member& m);
  std::size_t input_waiting(member& m);  // read but unhandled, and what the kernel holds
  std::size_t excess_input() const {     // beyond it, over --rate, a member is dropped
    return std::max<std::size_t>(32 * 1024, 2 * (opt.max_line + 2));
  }
  void finish(member& m);
  asio::awaitable<void> writer(std::shared_ptr<member> m);

  // commands.cpp: what a line asks for.
  void handle(member& m, std::string_view text);
  void say(member& m, std::string_view text);
  void relay(member& m, const std::string& body, chat_event::type what, std::string_view raw);
  void nick(member& m, std::string_view name);
  void list(member& m);
  void private_message(member& m, std::string_view to, std::string_view text);
  void join(member& m, std::string_view name);
};

}  // namespace sockit::service
