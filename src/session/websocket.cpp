// websocket: reading a request head, the Origin rule, and an upgraded connection (see
// sockit/session/websocket.hpp). The frames themselves are codec/websocket's.
#include "sockit/session/websocket.hpp"

#include <algorithm>
#include <asio/buffer.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cctype>
#include <tuple>

#include "sockit/net/address.hpp"
#include "sockit/session/deadline.hpp"

namespace sockit::session::websocket {

namespace ws = codec::websocket;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto tok = asio::experimental::as_tuple(asio::use_awaitable);

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

asio::awaitable<head_status> read_head_steps(ws_stream& s, std::string& buf,
                                             std::size_t& head_size) {
  char chunk[2048];
  for (;;) {
    // Never more than max_head in all, so a head that does not end is refused at the cap.
    std::size_t room = ws::max_head - buf.size();
    if (room == 0) co_return head_status::too_big;
    auto [ec, n] =
        co_await s.async_read_some(asio::buffer(chunk, std::min(room, sizeof chunk)), tok);
    if (ec) co_return head_status::closed;
    // Only the new bytes and the three before them can complete a blank line.
    std::size_t from = buf.size() >= 3 ? buf.size() - 3 : 0;
    buf.append(chunk, n);
    if (std::size_t end = ws::head_end(std::string_view(buf).substr(from)); end != 0) {
      head_size = from + end;
      co_return head_status::complete;
    }
  }
}

}  // namespace

asio::awaitable<head_status> read_head(ws_stream& s, std::string& buf, std::size_t& head_size,
                                       std::chrono::milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  deadline d;
  d.expires_after(timeout);
  auto v = co_await (read_head_steps(s, buf, head_size) || watch_deadline(d));
  if (v.index() == 1) co_return head_status::timed_out;
  co_return std::get<0>(v);
}

asio::awaitable<bool> write_all(ws_stream& s, std::string_view bytes,
                                std::chrono::milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  deadline d;
  d.expires_after(timeout);
  auto write = [&]() -> asio::awaitable<bool> {
    auto [ec, n] = co_await asio::async_write(s, asio::buffer(bytes), tok);
    co_return !ec;
  };
  auto v = co_await (write() || watch_deadline(d));
  co_return v.index() == 0 && std::get<0>(v);
}

bool origin_allowed(const ws::request& r, bool tls, std::span<const std::string> allowed) {
  if (r.origin.empty()) return true;
  if (!r.host.empty() && iequal(r.origin, std::string(tls ? "https://" : "http://") + r.host))
    return true;
  return std::any_of(allowed.begin(), allowed.end(),
                     [&](const std::string& a) { return a == "*" || iequal(a, r.origin); });
}

namespace {
// The host of "scheme://host[:port]" (an origin), or of a Host header's "host[:port]".
std::string_view host_part(std::string_view s) {
  if (const auto at = s.find("://"); at != std::string_view::npos) s.remove_prefix(at + 3);
  if (s.starts_with('[')) return s.substr(0, s.find(']') + 1);
  return s.substr(0, s.find(':'));
}
}  // namespace

bool host_allowed(std::string_view host, bool listener_is_loopback,
                  std::span<const std::string> allowed) {
  if (!listener_is_loopback) return true;
  if (std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) {
        return a == "*" || iequal(host_part(a), host_part(host));
      }))
    return true;
  // "name", "name:port", "[v6]", "[v6]:port".
  std::string_view name = host;
  if (name.starts_with('[')) {
    const auto close = name.find(']');
    if (close == std::string_view::npos) return false;
    const auto rest = name.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    name = name.substr(1, close - 1);
    std::error_code ec;
    const auto a = net::ipv6_address::parse(name, ec);
    return !ec && a.is_loopback();
  }
  name = name.substr(0, name.find(':'));
  if (iequal(name, "localhost")) return true;
  std::error_code ec;
  const auto a = net::ipv4_address::parse(name, ec);
  return !ec && a.is_loopback();
}

connection::connection(ws_stream& s, connection_options o, std::string_view already_read)
    : stream_(s),
      opt_(o),
      reader_(o.max_message),
      in_(already_read),
      last_heard_(steady::now()),
      wake_(s.get_executor(), steady::time_point::max()) {}

void connection::ended(std::string why) {
  if (why_.empty()) why_ = std::move(why);
}

void connection::queue(ws::opcode op, std::string_view payload) {
  ws::append_frame(out_, op, payload);
  kick();
}

void connection::queue_close(close_code code, std::string_view reason) {
  if (close_sent_) return;
  close_sent_ = true;
  pong_.reset();  // nothing after the close frame
  queue(ws::opcode::close,
        code == close_code::no_status ? std::string() : ws::close_payload(code, reason));
}

// One write at a time, of everything queued meanwhile; a completion that finds more starts
// the next. The handler holds the connection, so it may complete after its owner has left
// (finish() waits for it, so the stream is still there).
void connection::kick() {
  if (writing_ || failed_) return;
  if (pong_) {
    ws::append_frame(out_, ws::opcode::pong, *pong_);
    pong_.reset();
  }
  if (out_.empty()) return;
  writing_ = true;
  write_began_ = steady::now();
  flying_.swap(out_);
  out_.clear();
  asio::async_write(stream_, asio::buffer(flying_),
                    [self = shared_from_this()](std::error_code ec, std::size_t) {
                      self->writing_ = false;
                      // Not a big write's capacity kept for an idle browser.
                      if (self->flying_.capacity() > 4096) {
                        std::string().swap(self->flying_);
                      } else {
                        self->flying_.clear();
                      }
                      if (ec) {
                        self->failed_ = true;
                        self->ended("connection lost: " + ec.message());
                      }
                      self->wake_.cancel();
                      self->kick();
                    });
}

asio::awaitable<bool> connection::wait_written() {
  while (!failed_ && (writing_ || !out_.empty())) {
    co_await wake_.async_wait(tok);
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return false;
  }
  co_return !failed_;
}

asio::awaitable<std::optional<std::string>> connection::read_message() {
  using kind = ws::event::kind;
  for (;;) {
    if (failed_ || close_heard_) co_return std::nullopt;
    if (reader_.finished()) {
      // After a rule broken: nothing more is parsed, what comes is read and dropped until
      // the client's end (close() does so, bounded).
      in_.clear();
      in_at_ = 0;
    } else {
      std::size_t took = 0;
      if (in_at_ < in_.size()) {
        took = reader_.feed(std::string_view(in_).substr(in_at_));
        in_at_ += took;
      }
      ws::event e = reader_.next();
      switch (e.what) {
        case kind::message:
          if (e.op != ws::opcode::text) {
            ended("a binary message (this endpoint speaks text)");
            queue_close(close_code::unsupported_data, "text messages only");
            co_return std::nullopt;
          }
          co_return std::move(e.payload);
        case kind::ping:
          if (!close_sent_) {
            pong_ = std::move(e.payload);
            kick();
          }
          continue;
        case kind::pong:
          continue;  // any bytes heard count as an answer (below)
        case kind::close:
          close_heard_ = true;
          ended(e.code == close_code::no_status
                    ? std::string("closed by the client")
                    : "closed by the client (" + std::to_string(static_cast<int>(e.code)) + ")");
          // Echo its code (RFC 6455 §5.5.1); none when it sent none.
          queue_close(e.code, {});
          co_return std::nullopt;
        case kind::error:
          ended(std::string("protocol: ") + e.why);
          queue_close(e.code, e.why);
          co_return std::nullopt;
        case kind::none:
          break;
      }
      if (in_at_ < in_.size() && took != 0) continue;  // stopped at an event: more to feed
      in_.clear();
      in_at_ = 0;
    }
    // An idle connection holds no read buffer (it is most of a room's browsers): plaintext
    // waits for readiness, then reads into the thread's scratch and keeps only what came.
    // OpenSSL may hold decrypted bytes the socket no longer signals, so TLS reads directly.
    std::error_code ec;
    std::size_t n = 0;
    std::string().swap(in_);
    if (stream_.is_tls()) {
      in_.resize(16 * 1024);
      std::tie(ec, n) = co_await stream_.async_read_some(asio::buffer(in_), tok);
    } else {
      std::tie(ec) = co_await stream_.socket().async_wait(asio::socket_base::wait_read, tok);
      if (!ec) {
        thread_local char scratch[16 * 1024];
        stream_.socket().non_blocking(true, ec);
        if (!ec) n = stream_.socket().read_some(asio::buffer(scratch), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
        if (!ec) in_.assign(scratch, n);
      }
    }
    if (ec) {
      in_.clear();
      // Cancelled (a `||` sibling ended first): the client has not ended; close() reads on.
      auto state = co_await asio::this_coro::cancellation_state;
      if (state.cancelled() != asio::cancellation_type::none) co_return std::nullopt;
      close_heard_ = true;
      ended(ec == asio::error::eof ? "left without a close frame"
                                   : "connection lost: " + ec.message());
      co_return std::nullopt;
    }
    if (stream_.is_tls()) in_.resize(n);
    last_heard_ = steady::now();
    ping_out_ = false;
  }
}

asio::awaitable<bool> connection::send_text(std::string_view payload) {
  if (failed_ || close_sent_) co_return false;
  queue(ws::opcode::text, payload);
  // Not `co_return co_await`, nor a nested coroutine for the cancellation test: GCC 12
  // resumed a finished frame with either (SIGILL in the actor).
  const bool written = co_await wait_written();
  co_return written;
}

asio::awaitable<void> connection::keepalive() {
  asio::steady_timer t(co_await asio::this_coro::executor);
  auto tick = std::max<steady::duration>(
      std::min<steady::duration>(
          opt_.ping_interval.count() > 0 ? opt_.ping_interval : opt_.write_timeout,
          opt_.write_timeout) /
          4,
      std::chrono::milliseconds(20));
  for (;;) {
    t.expires_after(tick);
    auto [ec] = co_await t.async_wait(tok);
    if (ec) co_return;
    auto now = steady::now();
    if (writing_ && now - write_began_ >= opt_.write_timeout) {
      ended("not reading (a write waited " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::seconds>(opt_.write_timeout).count()) +
            " s)");
      co_return;
    }
    if (opt_.ping_interval.count() <= 0) continue;
    if (ping_out_) {
      if (now - ping_sent_ >= opt_.pong_timeout) {
        ended("no answer to a ping");
        co_return;
      }
    } else if (now - last_heard_ >= opt_.ping_interval && !close_sent_) {
      ping_out_ = true;
      ping_sent_ = now;
      queue(ws::opcode::ping, {});
    }
  }
}

asio::awaitable<void> connection::close(close_code code, std::string_view reason) {
  using namespace asio::experimental::awaitable_operators;
  deadline d;
  d.expires_after(opt_.close_timeout);
  queue_close(code, reason);
  auto handshake = [this]() -> asio::awaitable<void> {
    if (!co_await wait_written()) co_return;
    // The client's close (or its end): what it sends meanwhile is read and dropped.
    while (!close_heard_ && !failed_) {
      auto m = co_await read_message();
      (void)m;
    }
  };
  co_await (handshake() || watch_deadline(d));
  co_await finish();
}

asio::awaitable<void> connection::finish() {
  std::error_code ignored;
  stream_.socket().shutdown(asio::socket_base::shutdown_both, ignored);
  stream_.socket().close(ignored);
  while (writing_) co_await wake_.async_wait(tok);  // completes at once, aborted
}

}  // namespace sockit::session::websocket
