// Chat flow control, in one place: what a member may be queued (member::push: full at
// --max-queue, dropped at twice it or after --drop-after without reading, told by the
// kernel's TCP counts), the check that drops full members nobody writes to any more, and
// what a member over its --rate may read and leave waiting (read_size, input_waiting). The
// readers that apply the rate and the pacing are in member_io.cpp.
#include <sys/ioctl.h>

#include "server.hpp"
#include "sockit/net/tcp_progress.hpp"

namespace sockit::service {

namespace chat {

bool member::push(shared_message msg) {
  if (refusing) return false;
  // The common case costs one comparison: a member that is keeping up is far from full.
  if (out.queued_bytes() + msg->size() > watch.full_at && !full_but_reading()) return false;
  if (out.push(std::move(msg))) return true;
  // At 2 * max_queue: it read, but not fast enough (or never).
  why = read_while_full ? chat_lines::drop_reason::reading_slowly
                        : chat_lines::drop_reason::not_reading;
  return false;
}

bool member::full_but_reading() {
  auto now = steady::now();
  if (!full) {
    full = true;
    read_while_full = false;
    stalled_since = now;
    mark_progress();
    watch.list.push_back(std::static_pointer_cast<member>(shared_from_this()));
    if (watch.added) watch.added();
  }
  return !stalled(now);
}

bool member::stalled(steady::time_point now) {
  if (has_read_since_mark()) {
    mark_progress();
    stalled_since = now;
    read_while_full = true;
  }
  if (watch.window.count() != 0 && now - stalled_since < watch.window) return false;
  why = chat_lines::drop_reason::not_reading;  // took nothing for the window
  return true;
}

void member::mark_progress() {
  if (!no_tcp_info) {
    if (auto p = net::tcp_progress_of(sock.native_handle())) {
      edge_then = p->acked + p->window;
      return;
    }
    no_tcp_info = true;
  }
  edge_then = out.written() + decltype(out)::flat_bytes;
}

bool member::has_read_since_mark() {
  if (!no_tcp_info) {
    if (auto p = net::tcp_progress_of(sock.native_handle())) return p->acked > edge_then;
    no_tcp_info = true;
    mark_progress();  // from now on measured the other way
    return false;
  }
  return out.written() > edge_then;
}

}  // namespace chat

// While some member's queue is full: a check every quarter of --drop-after (at least every
// 10 ms), so a full member that takes nothing is dropped about --drop-after after it last
// did, even when nobody says anything more.
void chat_server::impl::arm_stall_check() {
  if (stall_timer_armed || closing) return;
  stall_timer_armed = true;
  stall_timer.expires_after(
      std::max<steady::duration>(opt.drop_after / 4, std::chrono::milliseconds(10)));
  stall_timer.async_wait([this](std::error_code ec) {
    stall_timer_armed = false;
    if (!ec && !closing) check_stalls();
  });
}

void chat_server::impl::check_stalls() {
  auto now = steady::now();
  std::vector<std::shared_ptr<member>> stalled;
  std::erase_if(full.list, [&](const std::weak_ptr<member>& w) {
    auto m = w.lock();
    if (!m || m->gone) return true;
    if (m->out.queued_bytes() <= opt.max_queue) {  // it caught up
      m->full = false;
      return true;
    }
    if (!m->stalled(now)) return false;
    stalled.push_back(std::move(m));
    return true;
  });
  for (auto& m : stalled) drop(*m);
  if (!full.list.empty()) arm_stall_check();
}

std::size_t chat_server::impl::read_size(member& m) {
  if (!m.bucket.limited()) return scratch.size();
  double lines = std::max(1.0, m.bucket.available(steady::now()));
  double bytes = (lines + 1) * static_cast<double>(opt.max_line + 2);
  return bytes >= static_cast<double>(scratch.size()) ? scratch.size()
                                                      : static_cast<std::size_t>(bytes);
}

std::size_t chat_server::impl::input_waiting(member& m) {
  int n = 0;
  if (::ioctl(m.sock.native_handle(), FIONREAD, &n) != 0 || n < 0) n = 0;
  return m.unread.size() + static_cast<std::size_t>(n);
}

}  // namespace sockit::service
