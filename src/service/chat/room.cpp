// The rooms' fan-out: hand-outs of what was said, batched notices, and the slow members they
// find (see room.hpp).
#include "room.hpp"

#include <algorithm>

namespace sockit::service::chat {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool slow_members::contains(const room_member* m) const {
  return std::any_of(list_.begin(), list_.end(), [m](const auto& p) { return p.get() == m; });
}

void slow_members::drop_now() {
  // Taken out first: a drop runs passes of its own, with lists of their own.
  auto list = std::move(list_);
  list_.clear();
  for (auto& m : list) drop_(*m);
}

rooms::rooms(std::string lobby, std::size_t history, hooks h)
    : lobby_(std::move(lobby)), history_(history), hooks_(std::move(h)) {}

room& rooms::open(std::string_view name) {
  auto [it, created] = all_.try_emplace(lower(name));
  if (created) it->second.name = std::string(name);  // as its first member spelled it
  return it->second;
}

room* rooms::find(std::string_view name) {
  auto it = all_.find(lower(name));
  return it == all_.end() ? nullptr : &it->second;
}

void rooms::add(room_member& m, room& r, slow_members& slow) {
  hand_out(r, slow);  // a newcomer hears nothing said before it came in
  m.where = &r;
  m.left_room.clear();
  m.entered = r.next_seq;  // its own join notice is the next one
  r.members.push_back(m.shared_from_this());
}

void rooms::take_out(room_member& m) {
  room* r = m.where;
  if (!r) return;
  // Members that cannot take what was said are dropped last: by then the room is gone
  // only if it emptied.
  slow_members slow(hooks_.drop);
  hand_out(*r, slow);
  auto it = std::find_if(r->members.begin(), r->members.end(),
                         [&](const auto& p) { return p.get() == &m; });
  if (it != r->members.end()) {
    std::swap(*it, r->members.back());
    r->members.pop_back();
  }
  // Out of the room, so a drop (itself among the slow, or the last other member emptying
  // the room) never reaches the room through it.
  m.where = nullptr;
  m.left_room = r->name;
  if (r->members.empty() && lower(r->name) != lower(lobby_)) all_.erase(lower(m.left_room));
}

void rooms::send(room_member& m, shared_message msg) {
  if (m.gone) return;
  if (m.where && !m.where->said.empty()) {
    slow_members slow(hooks_.drop);
    hand_out(*m.where, slow);
    slow.drop_now();
    if (m.gone) return;
  }
  sent_bytes += msg->size();
  ++sent_messages;
  ++sent_copies;
  if (!m.push(std::move(msg))) hooks_.drop(m);
}

void rooms::say(room& r, const shared_message& msg, room_member* except) {
  // Members dropped here (the notices did not fit) go only after the line is in: the
  // sender may be one of them, and its leaving hands the line out (and may erase `r`).
  slow_members slow(hooks_.drop);
  queue_notices(r, slow);  // what happened before this line is read before it
  if (r.said.empty()) r.said.reserve(r.said_hint);
  r.said_by.push_back({except, r.said.size(), r.said.size() + msg->size()});
  r.said += *msg;
  sent_bytes += msg->size();
  ++sent_messages;
  sent_copies += r.members.size() - (except && r.members.size() != 0 ? 1 : 0);
  if (hooks_.said) hooks_.said();
}

void rooms::remember(room& r, shared_message msg) {
  if (history_ == 0) return;
  r.history.push_back(std::move(msg));
  if (r.history.size() > history_) r.history.pop_front();
}

std::size_t rooms::replay_from(const room& r, std::size_t budget) const {
  std::size_t bytes = 0, first = r.history.size();
  while (first > 0 && bytes + r.history[first - 1]->size() <= budget)
    bytes += r.history[--first]->size();
  return first;
}

void rooms::post_notice(room& r, shared_message text) {
  r.pending.push_back({r.next_seq++, std::move(text)});
  if (hooks_.noticed) hooks_.noticed();
}

void rooms::queue_notices(room& r, slow_members& slow) {
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
      ok = m->push(all);
      queued += ok ? batch.size() : 0;
    } else {
      for (auto& n : batch) {
        if (n.seq <= m->entered) continue;  // never its own join or anything before it
        ok = m->push(n.text);
        if (!ok) break;
        ++queued;
      }
    }
    if (!ok) slow.add(m);
  }
  deliveries.fetch_add(queued, std::memory_order_relaxed);
  sent_bytes += all->size();
  ++sent_messages;
  sent_copies += queued;
}

void rooms::flush_notices() {
  slow_members slow(hooks_.drop);  // dropped after every room: drops post notices of their own
  for (auto& [name, r] : all_) {
    hand_out(r, slow);
    queue_notices(r, slow);
  }
}

std::size_t rooms::hand_out(room& r, slow_members& slow) {
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
      ok = m->push(all);
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
      ok = m->push(std::make_shared<const std::string>(std::move(others)));
      queued += ok ? count : 0;
      pushed += ok ? 1 : 0;
    }
    if (!ok) slow.add(m);
  }
  r.said_by.clear();
  deliveries.fetch_add(queued, std::memory_order_relaxed);
  return static_cast<std::size_t>(queued - pushed);
}

std::size_t rooms::hand_out_all() {
  slow_members slow(hooks_.drop);  // dropped after every room: drops post notices (and rooms)
  std::size_t extra = 0;
  for (auto& [name, r] : all_) extra += hand_out(r, slow);
  return extra;
}

}  // namespace sockit::service::chat
