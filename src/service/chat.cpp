// chat_server: members (one reader and one writer coroutine each, over a bounded
// write_queue) and rooms, all on the one loop of a session::stream_server.
#include "sockit/service/chat.hpp"

#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <deque>
#include <map>
#include <unordered_map>
#include <vector>

#include "sockit/net/socket.hpp"
#include "sockit/session/io_pool.hpp"
#include "sockit/session/line_splitter.hpp"
#include "sockit/session/stream_server.hpp"
#include "sockit/session/write_queue.hpp"

namespace sockit::service {

// ---------------------------------------------------------------- the server

namespace {

using session::shared_message;
using session::stream_socket;
using steady = std::chrono::steady_clock;
constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

struct room;

/// One connected client. Lives as long as its reader or writer coroutine holds it.
/// Touched only on the server's loop.
struct member : std::enable_shared_from_this<member> {
  member(stream_socket s, std::size_t max_queue, std::size_t max_line, session::flush_pass& pass)
      : sock(std::move(s)),
        out(sock, max_queue, pass),
        lines(max_line),
        pass_wait(sock.get_executor()) {}
  stream_socket sock;
  session::write_queue<stream_socket> out;
  session::line_splitter lines;  // holds only an unfinished line between reads
  std::string unread;            // read, but past this turn's share of lines (rarely any)
  asio::steady_timer pass_wait;  // the reader waits here for the flush pass, when it must
  std::string nick, peer;
  room* where = nullptr;
  std::uint64_t entered = 0;    // the room's notice sequence number when this member came in
  std::uint64_t said_mark = 0;  // the hand-out (impl::hand_outs) in which it had lines of its own
  steady::time_point last_active = steady::now();
  bool gone = false;  // left the room; only its goodbye may still be written
  std::unique_ptr<asio::steady_timer> grace;  // bounds how long that goodbye may take
  session::address_slot slot;                 // its share of --max-conns-per-ip, till closed
};

/// A join, leave or drop notice waiting for the room's next batch.
struct pending_notice {
  std::uint64_t seq;
  shared_message text;
};

/// A line said in a room and not yet handed out: its place in room::said, and who said it
/// (who does not get it back).
struct said_line {
  member* from;
  std::size_t begin, end;
};

struct room {
  std::string name;
  std::vector<std::shared_ptr<member>> members;
  std::deque<shared_message> history;
  std::vector<pending_notice> pending;  // not yet queued to the members; oldest first
  std::uint64_t next_seq = 1;
  // Lines said since the last flush pass, in order, in one buffer: at the pass every member
  // who said none of them is queued the whole buffer as one shared message, so a line costs
  // the room an append rather than a queue entry (and a reference count) per member.
  std::string said;
  std::vector<said_line> said_by;
  std::size_t said_hint = 0;  // how big the last hand-out was (at most 64 KiB)
};

// Join and leave notices wait this long so that a burst of them (a thousand clients
// connecting) costs one write per member per batch rather than one per notice: sent one
// at a time, N joins cost N^2/2 sends. Anything else said in the room sends them first.
constexpr std::chrono::milliseconds notice_delay{10};

const char* help_text =
    "*** commands:\n"
    "***   /nick NAME      change your nickname\n"
    "***   /list           who is in this room\n"
    "***   /msg NICK TEXT  a private message\n"
    "***   /me ACTION      an action: * you ACTION\n"
    "***   /join #ROOM     move to another room (created on demand)\n"
    "***   /rooms          rooms and how many are in each\n"
    "***   /quit [REASON]  leave\n"
    "***   /help           this list\n"
    "*** lines not starting with / go to everyone in the room; start with // to send a /\n";

}  // namespace

struct chat_server::impl {
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
  // Members read into this one buffer in turn (reads are synchronous, after a readiness
  // wait), so an idle member holds no read buffer. A member's lines are handled a share at a
  // time, and then its reader waits until the flush pass has handed what they produced to
  // the kernel: a member that sends thousands of short lines in one packet can neither hold
  // the loop nor fill the others' queues faster than they are written (each line is a copy
  // for every member). Bytes read past that share wait in `unread`.
  std::vector<char> scratch = std::vector<char>(64 * 1024);
  // What lines handled so far have queued: lines (or direct messages) and bytes any one
  // member may have gained (each counted once) and copies for members in all. A reader's
  // share of a turn ends when its lines have added messages_per_turn of them, max_queue / 8
  // bytes, or copies_per_turn copies, so one pass never owes a member more than a few shares.
  std::uint64_t sent_bytes = 0, sent_messages = 0, sent_copies = 0;
  static constexpr std::uint64_t messages_per_turn = 512;
  static constexpr std::uint64_t copies_per_turn = 32768;
  static constexpr std::size_t read_budget = 256 * 1024;

  // Loop-only state.
  std::map<std::string, room, std::less<>> rooms;  // by lower-cased name: #Dev is #dev
  std::unordered_map<std::string, member*> nicks;  // lower-cased nick -> member
  std::uint64_t next_guest = 1;
  std::size_t members = 0;
  std::uint64_t hand_outs = 0;  // hand_out() calls that had lines, numbered
  bool closing = false;

  std::atomic<std::uint64_t> accepted{0}, rejected{0}, active{0}, messages{0}, deliveries{0},
      dropped{0}, idle_closed{0}, too_long{0};

  std::atomic<bool> started{false};

  // Cached "[HH:MM:SS] " for the current second.
  std::time_t stamp_second = 0;
  std::string stamp;

  explicit impl(chat_options o) : opt(std::move(o)) {
    if (opt.max_line == 0) throw std::invalid_argument("--max-line must be at least 1");
    // One relayed line at its largest: every byte of it may become U+FFFD (3 bytes), plus
    // the timestamp and the sender's nick.
    const std::size_t biggest_line = 3 * opt.max_line + 64;
    if (opt.max_queue < biggest_line)
      throw std::invalid_argument(fmt::format(
          "--max-queue must hold at least one full line: {} bytes or more with --max-line {} "
          "(a line of invalid bytes triples when they become U+FFFD)",
          biggest_line, opt.max_line));
    if (!check_room(opt.lobby).empty()) throw std::invalid_argument(check_room(opt.lobby));
    flushes.before_each([this] { return hand_out_all(); });
  }

  void emit(chat_event::type what, const member* m, std::string text = {},
            std::string detail = {}) {
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

  const std::string& timestamp() {
    std::time_t t = std::time(nullptr);
    if (t != stamp_second || stamp.empty()) {
      std::tm tm{};
      ::localtime_r(&t, &tm);
      stamp = fmt::format("[{:02}:{:02}:{:02}] ", tm.tm_hour, tm.tm_min, tm.tm_sec);
      stamp_second = t;
    }
    return stamp;
  }

  shared_message line(std::string_view body) {
    std::string s;
    s.reserve(12 + body.size() + 1);
    s += timestamp();
    s += body;
    s += '\n';
    return std::make_shared<const std::string>(std::move(s));
  }

  // ---- sending

  /// Queues for one member; a member whose queue is full is dropped. Lines said in its room
  /// before this are handed out first, so it reads everything in the order it happened.
  void send(member& m, shared_message msg) {
    if (m.gone) return;
    if (m.where && !m.where->said.empty()) {
      std::vector<std::shared_ptr<member>> slow;
      hand_out(*m.where, slow);
      for (auto& p : slow) drop(*p);
      if (m.gone) return;
    }
    sent_bytes += msg->size();
    ++sent_messages;
    ++sent_copies;
    if (!m.out.push(std::move(msg))) drop(m);
  }
  void reply(member& m, std::string_view body) { send(m, line(body)); }

  /// Says `msg` to everyone in `r` but `except`: it joins the room's lines for the next
  /// flush pass (hand_out). Members that cannot keep up are dropped then, never waited for.
  /// Members dropped here (the notices did not fit) go only after the line is in: the
  /// sender may be one of them, and its leaving hands the line out (and may erase `r`).
  void broadcast(room& r, const shared_message& msg, member* except = nullptr) {
    std::vector<std::shared_ptr<member>> slow;
    queue_notices(r, slow);  // what happened before this line is read before it
    if (r.said.empty()) r.said.reserve(r.said_hint);
    r.said_by.push_back({except, r.said.size(), r.said.size() + msg->size()});
    r.said += *msg;
    sent_bytes += msg->size();
    ++sent_messages;
    sent_copies += r.members.size() - (except && r.members.size() != 0 ? 1 : 0);
    flushes.schedule();
    for (auto& m : slow) drop(*m);
  }

  /// Queues the lines said in `r` since the last hand-out: the whole buffer, shared, to each
  /// member who said none of them; to the others, a copy without their own. Members whose
  /// queue is full go into `slow`, for the caller to drop once it is done with the room.
  /// Returns the lines queued beyond one per message (the flush pass's measure of load).
  std::size_t hand_out(room& r, std::vector<std::shared_ptr<member>>& slow) {
    if (r.said_by.empty()) return 0;
    const auto mark = ++hand_outs;
    for (auto& l : r.said_by)
      if (l.from) l.from->said_mark = mark;
    auto all = std::make_shared<const std::string>(std::move(r.said));
    r.said = std::string();  // an idle room holds no buffer; the next line reserves said_hint
    r.said_hint = std::min<std::size_t>(all->size(), 64 * 1024);
    const std::size_t lines = r.said_by.size();
    std::uint64_t queued = 0, pushed = 0;
    for (auto& m : r.members) {
      bool ok = true;
      if (m->said_mark != mark) {
        ok = m->out.push(all);
        queued += ok ? lines : 0;
        pushed += ok ? 1 : 0;
      } else {
        std::string others;
        std::size_t count = 0;
        for (auto& l : r.said_by) {
          if (l.from == m.get()) continue;
          others.append(*all, l.begin, l.end - l.begin);
          ++count;
        }
        if (count == 0) continue;
        ok = m->out.push(std::make_shared<const std::string>(std::move(others)));
        queued += ok ? count : 0;
        pushed += ok ? 1 : 0;
      }
      if (!ok) slow.push_back(m);
    }
    r.said_by.clear();
    deliveries.fetch_add(queued, std::memory_order_relaxed);
    return static_cast<std::size_t>(queued - pushed);
  }

  /// The flush pass's hook: every room's lines go out in the pass.
  std::size_t hand_out_all() {
    std::vector<std::shared_ptr<member>> slow;
    std::size_t extra = 0;
    for (auto& [name, r] : rooms) extra += hand_out(r, slow);
    for (auto& m : slow) drop(*m);  // which may post notices (and rooms) of its own
    return extra;
  }

  // ---- notices, batched

  /// Adds a notice to the room's next batch.
  void post_notice(room& r, shared_message text) {
    r.pending.push_back({r.next_seq++, std::move(text)});
    if (notice_timer_armed || closing) return;
    notice_timer_armed = true;
    notice_timer.expires_after(notice_delay);
    notice_timer.async_wait([this](std::error_code ec) {
      notice_timer_armed = false;
      if (!ec && !closing) flush_notices();
    });
  }

  /// Queues the room's pending notices to its members: all of them as one message to
  /// everyone who was here before the first, only the later ones to members who came in
  /// during the batch (never their own join or anything before it). Members that cannot
  /// take them are added to `slow`; the caller drops them once it is done with the room.
  void queue_notices(room& r, std::vector<std::shared_ptr<member>>& slow) {
    if (r.pending.empty()) return;
    hand_out(r, slow);  // lines said before the notices are read before them
    std::vector<pending_notice> batch;
    batch.swap(r.pending);
    shared_message all = batch.front().text;
    if (batch.size() > 1) {
      std::string joined;
      for (auto& n : batch) joined += *n.text;
      all = std::make_shared<const std::string>(std::move(joined));
    }
    std::uint64_t queued = 0;
    for (auto& m : r.members) {
      bool ok = true;
      if (m->entered < batch.front().seq) {
        ok = m->out.push(all);
        queued += ok ? batch.size() : 0;
      } else {
        for (auto& n : batch) {
          if (n.seq <= m->entered) continue;
          ok = m->out.push(n.text);
          if (!ok) break;
          ++queued;
        }
      }
      if (!ok) slow.push_back(m);
    }
    deliveries.fetch_add(queued, std::memory_order_relaxed);
    sent_bytes += all->size();
    ++sent_messages;
    sent_copies += queued;
  }

  void flush_notices() {
    std::vector<std::shared_ptr<member>> slow;
    for (auto& [name, r] : rooms) {
      hand_out(r, slow);
      queue_notices(r, slow);
    }
    for (auto& m : slow) drop(*m);  // which may post notices (and rooms) of its own
  }

  // ---- membership

  void enter(member& m, room& r) {
    std::vector<std::shared_ptr<member>> slow;
    hand_out(r, slow);  // a newcomer hears nothing said before it came in
    m.where = &r;
    m.entered = r.next_seq;  // its own join notice is the next one
    r.members.push_back(m.shared_from_this());
    reply(m, fmt::format("*** welcome to {}, {}: {} here. /help lists the commands", r.name, m.nick,
                         r.members.size()));
    // A member whose queue cannot take its welcome (what the room it left handed it filled
    // it) is dropped, and `r` may have gone with it.
    auto gone = [&] {
      if (!m.gone) return false;
      for (auto& p : slow) drop(*p);
      return true;
    };
    if (gone()) return;
    // Replay the newest history that fits in half the queue, so replay alone never drops.
    std::size_t bytes = 0, first = r.history.size();
    while (first > 0 && bytes + r.history[first - 1]->size() <= opt.max_queue / 2)
      bytes += r.history[--first]->size();
    for (std::size_t k = first; k < r.history.size() && !m.gone; ++k) send(m, r.history[k]);
    if (gone()) return;
    post_notice(r, line(fmt::format("*** {} joined {}", m.nick, r.name)));
    for (auto& p : slow) drop(*p);
  }

  void exit_room(member& m) {
    room* r = m.where;
    if (!r) return;
    // What was said while it was here still reaches everyone, itself included. Members that
    // cannot take it are dropped last: by then the room is gone only if it emptied.
    std::vector<std::shared_ptr<member>> slow;
    hand_out(*r, slow);
    auto it = std::find_if(r->members.begin(), r->members.end(),
                           [&](const auto& p) { return p.get() == &m; });
    if (it != r->members.end()) {
      std::swap(*it, r->members.back());
      r->members.pop_back();
    }
    // Empty rooms other than the lobby go away; so does their history.
    // Out of the room, so a drop below (itself among the slow, or the last other member
    // emptying the room) never reaches the room through it.
    m.where = nullptr;
    const std::string name = r->name;
    if (r->members.empty() && lower(name) != lower(opt.lobby)) rooms.erase(lower(name));
    for (auto& p : slow) drop(*p, p.get() == &m ? name : std::string());
  }

  /// Takes `m` out of the room and the nick table and closes it: gracefully (what is queued,
  /// plus `goodbye`, is written first, for up to close_grace) or at once.
  void remove(member& m, bool graceful, std::string_view goodbye = {}) {
    if (m.gone) return;
    auto keep = m.shared_from_this();
    std::vector<std::shared_ptr<member>> slow;
    if (m.where) hand_out(*m.where, slow);  // what was said before the goodbye goes first
    if (std::find(slow.begin(), slow.end(), keep) != slow.end()) {
      graceful = false;  // it could not take those lines: no goodbye after a gap
      goodbye = {};
    }
    if (!goodbye.empty()) m.out.push(line(goodbye));
    m.gone = true;
    nicks.erase(lower(m.nick));
    exit_room(m);
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
    for (auto& p : slow) drop(*p);
  }

  void leave(member& m, std::string_view why, bool graceful, std::string_view goodbye = {}) {
    if (m.gone) return;
    std::string room_name = m.where ? m.where->name : std::string();
    emit(chat_event::type::left, &m, {}, std::string(why));
    std::string notice = fmt::format("*** {} left ({})", m.nick, why);
    remove(m, graceful, goodbye);
    notify(room_name, notice);
  }

  /// `from`: the room it was just taken out of, if it is no longer in one.
  void drop(member& m, std::string from = {}) {
    if (m.gone) return;
    std::string room_name = m.where ? m.where->name : std::move(from);
    dropped.fetch_add(1, std::memory_order_relaxed);
    emit(chat_event::type::dropped, &m, {}, "outgoing queue full");
    std::string notice = fmt::format("*** {} was dropped (not reading)", m.nick);
    remove(m, false);
    notify(room_name, notice);
  }

  // By name: the room may have been removed (it emptied) meanwhile.
  void notify(const std::string& room_name, std::string_view text) {
    auto it = rooms.find(lower(room_name));
    if (it != rooms.end()) post_notice(it->second, line(text));
  }

  std::string guest_name() {
    for (;;) {
      std::string n = fmt::format("guest{}", next_guest++);
      if (!nicks.count(n)) return n;
    }
  }

  // ---- commands

  void handle(member& m, std::string_view text) {
    using kind = chat_command::kind;
    const chat_command c = parse_chat_line(text);  // chat_command.hpp: what a line means
    std::string_view arg = c.arg;
    if (c.what == kind::none) {
      return;
    } else if (c.what == kind::say) {
      say(m, arg);
    } else if (c.what == kind::nick) {
      nick(m, arg);
    } else if (c.what == kind::list) {
      list(m);
    } else if (c.what == kind::msg) {
      private_message(m, c.target, c.text);
    } else if (c.what == kind::me) {
      if (arg.empty()) return reply(m, "*** usage: /me ACTION");
      std::string body = fmt::format("* {} {}", m.nick, neutralize(arg));
      relay(m, body, chat_event::type::action, arg);
    } else if (c.what == kind::join) {
      join(m, arg);
    } else if (c.what == kind::rooms) {
      std::string out = "*** rooms:";
      for (auto& [key, r] : rooms) out += fmt::format(" {} ({})", r.name, r.members.size());
      reply(m, out);
    } else if (c.what == kind::quit) {
      std::string why = arg.empty() ? "quit" : fmt::format("quit: {}", neutralize(arg));
      leave(m, why, true, "*** bye");
    } else if (c.what == kind::help) {
      send(m, std::make_shared<const std::string>(help_text));
    } else {
      reply(m, fmt::format("*** unknown command {}; /help lists the commands (start a line "
                           "with // to send a /)",
                           neutralize(c.word.substr(0, 32))));
    }
  }

  void say(member& m, std::string_view text) {
    std::string body = fmt::format("<{}> {}", m.nick, neutralize(text));
    relay(m, body, chat_event::type::message, text);
  }

  void relay(member& m, const std::string& body, chat_event::type what, std::string_view raw) {
    room& r = *m.where;
    auto msg = line(body);
    if (opt.history) {
      r.history.push_back(msg);
      if (r.history.size() > opt.history) r.history.pop_front();
    }
    messages.fetch_add(1, std::memory_order_relaxed);
    if (callback) emit(what, &m, neutralize(raw));
    broadcast(r, msg, &m);
  }

  void nick(member& m, std::string_view name) {
    if (name.empty()) return reply(m, fmt::format("*** you are {}; /nick NAME changes it", m.nick));
    std::string why = check_nick(name);
    if (!why.empty())
      return reply(m, fmt::format("*** {}: {}", neutralize(name.substr(0, 64)), why));
    std::string key = lower(name);
    auto it = nicks.find(key);
    if (it != nicks.end() && it->second != &m)
      return reply(m, fmt::format("*** {} is already taken", name));
    if (name == m.nick) return reply(m, fmt::format("*** you are already {}", m.nick));
    std::string old = m.nick;
    nicks.erase(lower(old));
    nicks[key] = &m;
    m.nick = std::string(name);
    emit(chat_event::type::nick_changed, &m, {}, old);
    auto notice = line(fmt::format("*** {} is now known as {}", old, m.nick));
    send(m, notice);
    if (!m.gone && m.where) broadcast(*m.where, notice, &m);
  }

  void list(member& m) {
    std::vector<std::string_view> names;
    for (auto& p : m.where->members) names.push_back(p->nick);
    std::sort(names.begin(), names.end());
    reply(m, fmt::format("*** {} in {}: {}", names.size(), m.where->name, fmt::join(names, ", ")));
  }

  void private_message(member& m, std::string_view to, std::string_view text) {
    if (to.empty()) return reply(m, "*** usage: /msg NICK TEXT");
    auto it = nicks.find(lower(to));
    if (it == nicks.end())
      return reply(m, fmt::format("*** no one called {} is here", neutralize(to.substr(0, 64))));
    auto keep = it->second->shared_from_this();  // a drop below must not free it
    member& target = *keep;
    // The target hears of the sender's arrival before its first private line.
    if (m.where && target.where == m.where) {
      std::vector<std::shared_ptr<member>> slow;
      queue_notices(*m.where, slow);
      for (auto& p : slow) drop(*p);
      if (m.gone || target.gone) return;
    }
    std::string clean = neutralize(text);
    emit(chat_event::type::private_message, &m, {}, target.nick);
    send(target, line(fmt::format("*{}* {}", m.nick, clean)));
    reply(m, fmt::format("-> *{}* {}", target.nick, clean));
  }

  void join(member& m, std::string_view name) {
    if (name.empty())
      return reply(m, fmt::format("*** you are in {}; /join #ROOM moves", m.where->name));
    std::string why = check_room(name);
    if (!why.empty())
      return reply(m, fmt::format("*** {}: {}", neutralize(name.substr(0, 64)), why));
    if (lower(name) == lower(m.where->name))
      return reply(m, fmt::format("*** you are already in {}", m.where->name));
    std::string old = m.where->name;
    room* from = m.where;
    exit_room(m);
    if (m.gone) return;  // it could not take what was said before it left
    auto [it, created] = rooms.try_emplace(lower(name));
    if (created) it->second.name = std::string(name);  // as its first member spelled it
    if (rooms.count(lower(old)))
      post_notice(*from, line(fmt::format("*** {} left for {}", m.nick, it->second.name)));
    enter(m, it->second);
    emit(chat_event::type::room_changed, &m, {}, old);
  }

  // ---- coroutines

  /// One line from `m`; false when `m` has left (the rest of its input is not read).
  bool on_line(member& m, std::string_view text, session::line_kind kind) {
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

  // Waits until the socket is readable, then reads what is there into the shared scratch
  // buffer and handles its complete lines in the same turn of the loop, up to its share
  // (see sent_bytes); past that, waits for the flush pass before handling more.
  asio::awaitable<void> reader(std::shared_ptr<member> m) {
    std::uint64_t bytes0 = 0, messages0 = 0, copies0 = 0;  // the counts when the share began
    auto share_left = [&] {
      return sent_bytes - bytes0 < opt.max_queue / 8 &&
             sent_messages - messages0 < messages_per_turn &&
             sent_copies - copies0 < copies_per_turn;
    };
    auto each_line = [&](std::string_view text, session::line_kind kind) {
      return on_line(*m, text, kind) && share_left();
    };
    bool spent = false;  // used up its share: let the pass go first
    for (;;) {
      if (spent) {
        if (flushes.pending()) {
          m->pass_wait.expires_at(asio::steady_timer::time_point::max());
          flushes.wake_after(&m->pass_wait);
          co_await m->pass_wait.async_wait(token);  // cancelled once the pass has run
        } else {
          co_await asio::post(io, asio::use_awaitable);  // nothing to send: just take turns
        }
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
      bytes0 = sent_bytes;
      messages0 = sent_messages;
      copies0 = sent_copies;
      if (!m->unread.empty()) {
        std::size_t used = m->lines.feed(m->unread, each_line);
        if (m->gone) co_return;
        m->unread.erase(0, used);
        if (!m->unread.empty() || !share_left()) {
          spent = true;
          continue;
        }
      }
      // Lines that queue nothing (empty ones) use no share: the bytes read are bounded too.
      for (std::size_t taken = 0; taken < read_budget;) {
        std::error_code rec;
        std::size_t n = m->sock.read_some(asio::buffer(scratch), rec);
        if (rec == asio::error::would_block || rec == asio::error::try_again) break;
        m->last_active = steady::now();
        if (rec == asio::error::eof) {
          // The last line, if unterminated, whatever the share: nothing more will come.
          bool stayed = m->lines.finish([this, &m](std::string_view text, session::line_kind kind) {
            return on_line(*m, text, kind);
          });
          if (stayed) leave(*m, "closed", true);
          co_return;
        }
        if (rec) {
          leave(*m, fmt::format("connection lost: {}", rec.message()), false);
          co_return;
        }
        std::size_t used = m->lines.feed(std::string_view(scratch.data(), n), each_line);
        if (m->gone) co_return;
        if (used < n) m->unread.assign(scratch.data() + used, n - used);
        if (used < n || !share_left()) {
          spent = true;
          break;
        }
        taken += n;
        if (n < scratch.size()) break;  // most likely drained; the next wait tells
        if (taken >= read_budget) spent = true;
      }
    }
  }

  asio::awaitable<void> writer(std::shared_ptr<member> m) {
    auto ec = co_await m->out.run();
    if (m->grace) m->grace->cancel();
    if (!m->gone) leave(*m, fmt::format("connection lost: {}", ec.message()), false);
    std::error_code ignored;
    m->sock.shutdown(asio::socket_base::shutdown_both, ignored);
    m->sock.close(ignored);
    m->slot.release();
  }

  void reject(stream_socket& sock, std::string_view why) {
    rejected.fetch_add(1, std::memory_order_relaxed);
    std::string peer = callback ? session::peer_name(sock) : std::string();
    std::string msg = fmt::format("{}*** {}, try again later\n", timestamp(), why);
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

  session::stream_server::hooks hooks() {
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

  void admit(stream_socket sock, session::address_slot slot) {
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
    auto m = std::make_shared<member>(std::move(sock), opt.max_queue, opt.max_line, flushes);
    m->peer = session::peer_name(m->sock);
    m->slot = std::move(slot);
    m->nick = guest_name();
    nicks[m->nick] = m.get();
    ++members;
    accepted.fetch_add(1, std::memory_order_relaxed);
    active.fetch_add(1, std::memory_order_relaxed);
    auto [it, created] = rooms.try_emplace(lower(opt.lobby));
    if (created) it->second.name = opt.lobby;
    enter(*m, it->second);
    emit(chat_event::type::joined, m.get());
    asio::co_spawn(io, reader(m), asio::detached);
    asio::co_spawn(io, writer(m), asio::detached);
  }

  asio::awaitable<void> idle_sweeper() {
    auto every = std::max<steady::duration>(opt.idle_timeout / 4, std::chrono::milliseconds(50));
    for (;;) {
      sweep.expires_after(every);
      auto [ec] = co_await sweep.async_wait(token);
      if (ec || closing) co_return;
      auto now = steady::now();
      std::vector<std::shared_ptr<member>> idle;
      for (auto& [name, r] : rooms)
        for (auto& m : r.members)
          if (now - m->last_active >= opt.idle_timeout) idle.push_back(m);
      for (auto& m : idle) {
        idle_closed.fetch_add(1, std::memory_order_relaxed);
        leave(*m, "idle timeout", true,
              fmt::format(
                  "*** disconnected: nothing received for {} s",
                  std::chrono::duration_cast<std::chrono::seconds>(opt.idle_timeout).count()));
      }
    }
  }

  // On the loop: stop accepting, say goodbye to everyone, let the writers drain.
  void close_room() {
    flush_notices();  // what happened before the goodbye is read before it
    closing = true;
    sweep.cancel();
    notice_timer.cancel();
    std::vector<std::shared_ptr<member>> all;
    for (auto& [name, r] : rooms)
      for (auto& m : r.members) all.push_back(m);
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
    rooms.clear();
  }
};

chat_server::chat_server(chat_options options) : impl_(std::make_shared<impl>(std::move(options))) {
  impl_->server.listen(impl_->opt.endpoint);
}

chat_server::~chat_server() { stop(); }

net::endpoint chat_server::local_endpoint() const { return impl_->server.local_endpoint(); }

void chat_server::on_event(std::function<void(const chat_event&)> callback) {
  impl_->callback = std::move(callback);
}

void chat_server::start() {
  if (impl_->started.exchange(true)) return;
  if (impl_->opt.idle_timeout.count() > 0) {
    asio::co_spawn(impl_->io, impl_->idle_sweeper(), asio::detached);
  }
  impl_->server.start(impl_->hooks());
}

void chat_server::stop() { impl_->server.stop(); }

void chat_server::wait() { impl_->server.wait(); }

chat_stats chat_server::stats() const {
  auto& i = *impl_;
  constexpr auto r = std::memory_order_relaxed;
  return chat_stats{i.accepted.load(r),    i.rejected.load(r),   i.active.load(r),
                    i.messages.load(r),    i.deliveries.load(r), i.dropped.load(r),
                    i.idle_closed.load(r), i.too_long.load(r)};
}

}  // namespace sockit::service
