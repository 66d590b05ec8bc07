// The chat rooms without their sockets: who is in each room, what was said and not yet
// handed out, the history, the batched join/leave notices, and which members were too slow
// to take their share. Internal to the chat server (src/service/chat/); unit-tested with
// fake members in tests/unit/chat_room_test.cpp. No Asio, no I/O: a member is anything
// that can take a message or refuse it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sockit::service::chat {

/// One message, shared by every member it is queued to (session::shared_message).
using shared_message = std::shared_ptr<const std::string>;

/// ASCII lower case: nicks and room names are compared without regard to it (#Dev is #dev).
std::string lower(std::string_view s);

struct room;

/// What the room knows of a member. The server's member (with its socket and queue)
/// derives from it; tests use fakes.
class room_member : public std::enable_shared_from_this<room_member> {
 public:
  virtual ~room_member() = default;
  /// Queues `msg` for writing; false, and nothing queued, when the member's queue is full
  /// (the member is then too slow and is dropped by the caller).
  virtual bool push(shared_message msg) = 0;

  std::string nick;
  room* where = nullptr;
  std::string left_room;        // the room it was just taken out of, while it is in none
  std::uint64_t entered = 0;    // the room's notice sequence number when this member came in
  std::uint64_t said_mark = 0;  // the hand-out (rooms::hand_outs) in which it had lines of its own
  bool gone = false;            // left the room; only its goodbye may still be written
};

/// A join, leave or drop notice waiting for the room's next batch.
struct pending_notice {
  std::uint64_t seq;
  shared_message text;
};

/// A line said in a room and not yet handed out: its place in room::said, and who said it
/// (who does not get it back).
struct said_line {
  room_member* from;
  std::size_t begin, end;
};

struct room {
  std::string name;
  std::vector<std::shared_ptr<room_member>> members;
  std::deque<shared_message> history;
  std::vector<pending_notice> pending;  // not yet queued to the members; oldest first
  std::uint64_t next_seq = 1;
  // Lines said since the last hand-out, in order, in one buffer: at the hand-out every
  // member who said none of them is queued the whole buffer as one shared message, so a line
  // costs the room an append rather than a queue entry (and a reference count) per member.
  std::string said;
  std::vector<said_line> said_by;
  std::size_t said_hint = 0;  // how big the last hand-out was (at most 64 KiB)
};

/// Members found too slow during a pass over a room, dropped when the pass is over: dropping
/// one changes the room (it leaves, which hands out lines and may erase the room), so never
/// while the room is being walked. Drops in the destructor, or earlier with drop_now().
class slow_members {
 public:
  using drop_fn = std::function<void(room_member&)>;
  explicit slow_members(const drop_fn& drop) : drop_(drop) {}
  ~slow_members() { drop_now(); }
  slow_members(const slow_members&) = delete;
  slow_members& operator=(const slow_members&) = delete;

  void add(std::shared_ptr<room_member> m) { list_.push_back(std::move(m)); }
  bool contains(const room_member* m) const;
  bool empty() const noexcept { return list_.empty(); }
  /// Drops those collected so far, in the order they were found.
  void drop_now();

 private:
  const drop_fn& drop_;
  std::vector<std::shared_ptr<room_member>> list_;
};

/// Every room, on one loop (no locks). What is said is handed out in batches (hand_out) and
/// notices in batches too (queue_notices), so that a member reads everything in the order
/// it happened and a burst costs one message per member rather than one per line.
class rooms {
 public:
  struct hooks {
    std::function<void(room_member&)> drop;  // a member that could not take its share
    std::function<void()> said;              // lines wait for a hand-out: make sure one is due
    std::function<void()> noticed;           // a notice waits: make sure its batch is due
  };

  rooms(std::string lobby, std::size_t history, hooks h);

  /// The room called `name` (any case), created on demand (spelled as asked first).
  room& open(std::string_view name);
  room& lobby() { return open(lobby_); }
  /// The room called `name`, or null (it emptied and went away).
  room* find(std::string_view name);
  std::map<std::string, room, std::less<>>& all() noexcept { return all_; }

  /// Puts `m` in `r` as its newest member; it hears nothing said before, and its own join
  /// notice is the next one posted (so the caller drops `slow` only after posting it).
  void add(room_member& m, room& r, slow_members& slow);
  /// Takes `m` out of its room. What was said while it was there still reaches everyone,
  /// itself included; empty rooms other than the lobby go away, and so does their history.
  void take_out(room_member& m);

  /// Queues `msg` for `m` alone (a reply, a private line); lines said in its room before
  /// are handed out first. A member that cannot take it is dropped.
  void send(room_member& m, shared_message msg);
  /// Says `msg` to everyone in `r` but `except`, at the next hand-out. Notices posted
  /// before it are queued first.
  void say(room& r, const shared_message& msg, room_member* except = nullptr);
  /// Keeps `msg` in the room's history (the newest `history` lines).
  void remember(room& r, shared_message msg);
  /// Where the replay of `r`'s history starts so that it fits in `budget` bytes.
  std::size_t replay_from(const room& r, std::size_t budget) const;

  /// Adds a notice to the room's next batch.
  void post_notice(room& r, shared_message text);
  /// Queues the room's pending notices: all of them as one message to everyone who was
  /// there before the first, only the later ones to members who came in during the batch.
  void queue_notices(room& r, slow_members& slow);
  /// Hands out and queues the notices of every room.
  void flush_notices();

  /// Queues the lines said in `r` since the last hand-out: the whole buffer, shared, to each
  /// member who said none of them; to the others, a copy without their own. Returns the
  /// lines queued beyond one per message (the flush pass's measure of load).
  std::size_t hand_out(room& r, slow_members& slow);
  /// Every room's hand-out; the members too slow for it are dropped after all of them.
  std::size_t hand_out_all();

  const slow_members::drop_fn& dropper() const noexcept { return hooks_.drop; }

  // What has been queued so far: lines (or direct messages) and bytes any one member may
  // have gained (each counted once), and copies for members in all. The server's readers
  // measure their share of a turn in these.
  std::uint64_t sent_bytes = 0, sent_messages = 0, sent_copies = 0;
  std::atomic<std::uint64_t> deliveries{0};  // lines queued to members, each copy counted
  std::uint64_t hand_outs = 0;               // hand_out() calls that had lines, numbered

 private:
  std::string lobby_;
  std::size_t history_;
  hooks hooks_;
  std::map<std::string, room, std::less<>> all_;  // by lower-cased name
};

}  // namespace sockit::service::chat
