// chat_bench: one coroutine per member reading lines; senders also write timed messages
// "~B:<sender>:<seq>:<ns since start>:xxx..." that every other member should receive. A
// WebSocket member (options.web) does the upgrade first, then frames what it writes and
// reads the same lines out of the server's messages (codec/websocket, client side). Over
// 500 lines because both kinds of member are one client: the pacing, the counting and the
// ordering checks are shared, so TCP and WebSocket runs measure the same thing.
#include "sockit/service/chat_bench.hpp"

#include <algorithm>
#include <array>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include "sockit/codec/websocket.hpp"
#include "sockit/net/resolver.hpp"
#include "sockit/session/io_pool.hpp"
#include "sockit/session/tls_stream.hpp"

namespace sockit::service {
namespace {

namespace ws = codec::websocket;
using clock_type = std::chrono::steady_clock;
using socket_type = asio::generic::stream_protocol::socket;
constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::string_view marker = "~B:";

struct shared_state {
  const chat_bench_options& opt;
  std::vector<net::socket_address> addrs;
  clock_type::time_point epoch = clock_type::now();
  std::atomic<unsigned> connected{0}, ready{0};
  std::atomic<std::int64_t> start_ns{0};  // 0 until every member is in the room
  std::atomic<std::int64_t> end_ns{0};
  std::atomic<std::uint64_t> sent{0}, delivered{0}, disconnected{0}, failed{0};
  std::atomic<std::int64_t> last_delivery_ns{0};
  std::atomic<bool> finishing{false};
  std::shared_ptr<asio::ssl::context> tls{};  // null: plaintext
  std::string web_host{};                     // the upgrade's Host header
  std::mutex error_mu{};
  std::string error{};  // the first member's failure to get in

  std::int64_t now_ns() const { return (clock_type::now() - epoch).count(); }
  void failed_with(std::string why) {
    failed.fetch_add(1);
    std::lock_guard lock(error_mu);
    if (error.empty()) error = std::move(why);
  }
};

// The longest server message a WebSocket member takes: the room writes a pass's lines as
// one message of at most 64 KiB plus a line; far above that is not a chat room's.
constexpr std::size_t max_server_message = 4 << 20;

// Per loop, touched by that loop's thread only.
struct loop_stats {
  latency_histogram latency;
  std::uint64_t out_of_order = 0;
};

// Reads "DIGITS:" at p (advancing past the colon); false if that is not what is there.
bool parse_u64(const char*& p, const char* end, std::uint64_t& v) {
  const char* start = p;
  std::uint64_t x = 0;
  while (p != end && static_cast<unsigned>(*p - '0') < 10 && p - start < 19) {
    x = x * 10 + static_cast<unsigned>(*p - '0');
    ++p;
  }
  if (p == start || p == end || *p != ':') return false;
  ++p;
  v = x;
  return true;
}

// One member. Lives (in run_chat_bench) until its loop has finished; touched on its loop.
struct client {
  client(shared_state& s, loop_stats& l, unsigned i, asio::io_context& io, std::uint64_t seed)
      : st(s),
        ls(l),
        id(i),
        last_seq(s.opt.senders),
        sock(io),
        timer(io),
        wake(io, clock_type::time_point::max()),
        rng(seed | 1) {}
  shared_state& st;
  loop_stats& ls;
  unsigned id;
  std::vector<std::uint64_t> last_seq;  // per sender, +1 (0 = nothing yet)
  socket_type sock;
  // The socket, or TLS over it, from the moment it is connected; the client outlives both
  // coroutines that use it.
  std::optional<session::maybe_tls<socket_type>> stream;
  asio::steady_timer timer;  // the sender's pacing

  // WebSocket members only: frames waiting to be written and being written (one write at a
  // time: the sender's messages and the reader's pongs and close share the socket).
  std::string out, flying;
  bool writing = false, write_failed = false;
  asio::steady_timer wake;  // cancelled when a write ends; never expires
  std::uint64_t rng;        // xorshift64: masking keys and the handshake's key

  // On the loop: ends every coroutine (a write in flight completes, aborted).
  void finish() {
    std::error_code ignored;
    sock.close(ignored);
    timer.cancel();
    wake.cancel();
  }

  std::uint64_t random() {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  }

  // A fresh masking key per frame, as RFC 6455 §5.3 asks; a load generator needs no
  // cryptographic randomness for it (it is there against proxies' cache poisoning).
  void queue_frame(ws::opcode op, std::string_view payload) {
    const auto r = random();
    const std::array<std::uint8_t, 4> mask{
        static_cast<std::uint8_t>(r), static_cast<std::uint8_t>(r >> 8),
        static_cast<std::uint8_t>(r >> 16), static_cast<std::uint8_t>(r >> 24)};
    ws::append_masked_frame(out, op, payload, mask);
    kick();
  }

  // Starts a write of everything queued unless one is in flight; its completion starts the
  // next. The handler holds `this`: clients outlive the pool's loops (run_chat_bench).
  void kick() {
    if (writing || write_failed || out.empty()) return;
    writing = true;
    flying.swap(out);
    out.clear();
    asio::async_write(*stream, asio::buffer(flying), [this](std::error_code ec, std::size_t) {
      writing = false;
      flying.clear();
      if (ec) write_failed = true;
      wake.cancel();
      kick();
    });
  }

  // Until what is queued is on its way to the socket, as the TCP sender's own write: a
  // server that stops reading holds its senders back alike.
  asio::awaitable<bool> written() {
    while ((writing || !out.empty()) && !write_failed && !st.finishing.load()) {
      wake.expires_at(clock_type::time_point::max());
      co_await wake.async_wait(token);
    }
    co_return !write_failed && !st.finishing.load();
  }

  asio::awaitable<bool> connect(socket_type& s) {
    asio::steady_timer backoff(co_await asio::this_coro::executor);
    // A small listen backlog (ncat's) refuses bursts of connects: retry for a while.
    for (int attempt = 0; attempt < 50; ++attempt) {
      for (const auto& a : st.addrs) {
        if (st.finishing.load()) co_return false;
        int proto = a.family() == AF_UNIX ? 0 : IPPROTO_TCP;
        asio::generic::stream_protocol::endpoint ep(a.data(), a.size(), proto);
        std::error_code ec;
        s.close(ec);
        auto [cec] = co_await s.async_connect(ep, token);
        if (!cec) {
          if (a.family() != AF_UNIX) s.set_option(asio::ip::tcp::no_delay(true), ec);
          co_return true;
        }
      }
      backoff.expires_after(std::chrono::milliseconds(20 + 10 * attempt));
      co_await backoff.async_wait(token);
    }
    co_return false;
  }

  // [p, end) is what follows the marker in one received line, which arrived at `now`.
  // Returns whether it was one of the generator's messages.
  bool on_message(const char* p, const char* end, std::int64_t now) {
    std::uint64_t sender = 0, seq = 0, ns = 0;
    if (!parse_u64(p, end, sender) || !parse_u64(p, end, seq) || !parse_u64(p, end, ns))
      return false;
    ls.latency.record(now > static_cast<std::int64_t>(ns) ? static_cast<std::uint64_t>(now) - ns
                                                          : 0);
    if (sender < last_seq.size()) {
      if (seq + 1 <= last_seq[sender]) ++ls.out_of_order;
      last_seq[sender] = seq + 1;
    }
    return true;
  }

  // Once per read rather than per line: at millions of deliveries a second, a clock read and
  // two shared atomics per line were a third of the generator's time.
  void delivered(std::uint64_t n, std::int64_t now) {
    if (n == 0) return;
    st.delivered.fetch_add(n, std::memory_order_relaxed);
    // Monotonic max without a lock: later deliveries only raise it.
    auto prev = st.last_delivery_ns.load(std::memory_order_relaxed);
    while (prev < now &&
           !st.last_delivery_ns.compare_exchange_weak(prev, now, std::memory_order_relaxed)) {
    }
  }

  // Counts the generator's messages among the lines in [data, data + n), which arrived at
  // `now`; `complete` is set to where the last complete line ends (what follows is a line
  // still arriving).
  std::uint64_t count_lines(const char* data, std::size_t n, std::int64_t now,
                            std::size_t& complete) {
    // Only lines with the marker matter (a thousand joins are half a million other lines), so
    // look for markers rather than walk every line; '~' is rare in anything else, and
    // memchr is much faster than memmem.
    std::uint64_t count = 0;
    const char* const end = data + n;
    std::size_t pos = 0;
    for (const char* p = data;;) {
      auto* hit = static_cast<const char*>(std::memchr(p, '~', static_cast<std::size_t>(end - p)));
      if (!hit || end - hit < static_cast<std::ptrdiff_t>(marker.size())) break;
      if (std::string_view(hit, marker.size()) != marker) {
        p = hit + 1;
        continue;
      }
      auto* nl =
          static_cast<const char*>(std::memchr(hit, '\n', static_cast<std::size_t>(end - hit)));
      if (!nl) break;  // its line is not complete yet
      count += on_message(hit + marker.size(), nl, now) ? 1 : 0;
      p = nl + 1;
      pos = static_cast<std::size_t>(p - data);
    }
    auto* last_nl = static_cast<const char*>(::memrchr(data + pos, '\n', n - pos));
    complete = last_nl ? static_cast<std::size_t>(last_nl - data) + 1 : pos;
    return count;
  }

  void lost_connection() {
    if (!st.finishing.load()) st.disconnected.fetch_add(1, std::memory_order_relaxed);
  }

  asio::awaitable<void> reader(session::maybe_tls<socket_type>& s) {
    std::vector<char> buf(64 * 1024);
    std::size_t have = 0;
    bool first = true;
    for (;;) {
      if (have == buf.size()) have = 0;  // an absurdly long line: not ours, forget it
      auto [ec, n] =
          co_await s.async_read_some(asio::buffer(buf.data() + have, buf.size() - have), token);
      if (ec) {
        lost_connection();
        co_return;
      }
      if (first) {
        first = false;
        st.ready.fetch_add(1);
      }
      have += n;
      const auto now = st.now_ns();
      std::size_t keep = 0;
      delivered(count_lines(buf.data(), have, now, keep), now);
      // Keep the incomplete last line (a marker may be arriving in pieces).
      if (keep != 0) {
        std::memmove(buf.data(), buf.data() + keep, have - keep);
        have -= keep;
      }
    }
  }

  // A WebSocket member's reader: `buf` holds `have` bytes that followed the 101's head. Each
  // server message is whole lines (the room's writes cut at their last newline), so each
  // is counted on its own; pings are answered, a close is echoed.
  asio::awaitable<void> web_reader(session::maybe_tls<socket_type>& s, std::vector<char>& buf,
                                   std::size_t have) {
    ws::frame_reader frames(max_server_message, ws::role::client);
    bool first = true;
    for (;;) {
      if (have == 0) {
        auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), token);
        if (ec) {
          lost_connection();
          co_return;
        }
        have = n;
      }
      const auto now = st.now_ns();
      std::uint64_t count = 0;
      std::string_view in(buf.data(), have);
      have = 0;
      while (!in.empty()) {
        const std::size_t took = frames.feed(in);
        in.remove_prefix(took);
        ws::event e = frames.next();
        switch (e.what) {
          case ws::event::kind::none:
            if (took == 0) in = {};  // (cannot happen: the reader ends only at an event)
            break;
          case ws::event::kind::message: {
            if (first) {
              first = false;
              st.ready.fetch_add(1);
            }
            std::size_t complete = 0;
            count += count_lines(e.payload.data(), e.payload.size(), now, complete);
            break;
          }
          case ws::event::kind::ping:
            queue_frame(ws::opcode::pong, e.payload);
            break;
          case ws::event::kind::pong:
            break;
          case ws::event::kind::close:
          case ws::event::kind::error: {
            // The server's close is echoed (its code, RFC 6455 §5.5.1; none when it sent
            // none); a rule it broke is told with the code for it. Either way this member
            // is gone.
            queue_frame(ws::opcode::close, e.code == ws::close_code::no_status
                                               ? std::string()
                                               : ws::close_payload(e.code));
            delivered(count, now);
            lost_connection();
            co_return;
          }
        }
      }
      delivered(count, now);
    }
  }

  // The opening handshake as a client; leaves in `buf` what came after the 101's head and
  // returns how many bytes that is, or nullopt (with the reason given to st) when refused.
  asio::awaitable<std::optional<std::size_t>> upgrade(session::maybe_tls<socket_type>& s,
                                                      std::vector<char>& buf) {
    std::array<std::uint8_t, 16> nonce;
    for (std::size_t i = 0; i < nonce.size(); i += 8) {
      const auto r = random();
      std::memcpy(nonce.data() + i, &r, 8);
    }
    const std::string key = ws::make_key(nonce);
    const std::string request = ws::upgrade_request(st.web_host, st.opt.web_path, key);
    auto [wec, wn] = co_await asio::async_write(s, asio::buffer(request), token);
    if (wec) {
      st.failed_with("upgrade: " + wec.message());
      co_return std::nullopt;
    }
    std::size_t have = 0;
    for (;;) {
      if (have == ws::max_head) {
        st.failed_with("upgrade: answer head over 8 KiB");
        co_return std::nullopt;
      }
      auto [ec, n] =
          co_await s.async_read_some(asio::buffer(buf.data() + have, ws::max_head - have), token);
      if (ec) {
        st.failed_with("upgrade: " + ec.message() + " before an answer");
        co_return std::nullopt;
      }
      have += n;
      const std::string_view got(buf.data(), have);
      // Not a web server at all (a plain room greets in lines): said at once, rather than
      // waited on until the setup time is up.
      if (!got.starts_with(std::string_view("HTTP/").substr(0, std::min<std::size_t>(have, 5)))) {
        st.failed_with("upgrade: the answer is not HTTP");
        co_return std::nullopt;
      }
      const std::size_t end = ws::head_end(got);
      if (end == 0) continue;
      std::string why;
      if (!ws::check_upgrade_response(got.substr(0, end), key, why)) {
        st.failed_with("upgrade: " + why);
        co_return std::nullopt;
      }
      std::memmove(buf.data(), buf.data() + end, have - end);
      co_return have - end;
    }
  }

  asio::awaitable<void> sender(session::maybe_tls<socket_type>& s) {
    while (st.start_ns.load() == 0) {
      timer.expires_after(std::chrono::milliseconds(2));
      co_await timer.async_wait(token);
      if (st.finishing.load()) co_return;
    }
    const auto start = st.epoch + std::chrono::nanoseconds(st.start_ns.load());
    const auto end = st.epoch + std::chrono::nanoseconds(st.end_ns.load());
    // Senders are spread evenly over one period so the room sees a steady stream.
    const auto period = std::chrono::duration<double>(1.0 / st.opt.rate);
    const auto offset = period * (static_cast<double>(id) / st.opt.senders);
    std::string msg;
    for (std::uint64_t seq = 0;; ++seq) {
      auto at = start + std::chrono::duration_cast<clock_type::duration>(
                            offset + period * static_cast<double>(seq));
      if (at >= end) co_return;
      timer.expires_at(at);
      co_await timer.async_wait(token);
      if (st.finishing.load()) co_return;
      msg.clear();
      msg += marker;
      // Stamped with when it was due, not when it went out: a server that pushes back on
      // its senders (blocking writes) or a late timer must not hide that wait from the
      // latency (coordinated omission, as wrk2 corrects it).
      const auto due = std::chrono::duration_cast<std::chrono::nanoseconds>(at - st.epoch).count();
      msg += std::to_string(id) + ':' + std::to_string(seq) + ':' + std::to_string(due) + ':';
      if (msg.size() + 1 < st.opt.size) msg.append(st.opt.size - 1 - msg.size(), 'x');
      // Counted before the write, so the drain never ends while a message is in flight.
      st.sent.fetch_add(1, std::memory_order_relaxed);
      if (st.opt.web) {
        // One line, one text message (the room's bridge adds the newline).
        queue_frame(ws::opcode::text, msg);
        if (!co_await written()) co_return;
        continue;
      }
      msg += '\n';
      auto [ec, n] = co_await asio::async_write(s, asio::buffer(msg), token);
      if (ec) co_return;
    }
  }

  asio::awaitable<void> run() {
    socket_type& s = sock;
    if (!co_await connect(s)) {
      st.failed_with("could not connect");
      co_return;
    }
    stream.emplace(s, st.tls.get());
    if (stream->is_tls()) {
      auto [hec] = co_await stream->async_client_handshake(token);
      if (hec) {
        st.failed_with("TLS handshake: " + hec.message());
        co_return;
      }
    }
    if (st.opt.web) {
      std::vector<char> buf(64 * 1024);
      auto after_head = co_await upgrade(*stream, buf);
      if (!after_head) co_return;
      st.connected.fetch_add(1);
      if (id < st.opt.senders) {
        asio::co_spawn(s.get_executor(), sender(*stream), asio::detached);
      }
      co_await web_reader(*stream, buf, *after_head);
      co_return;
    }
    st.connected.fetch_add(1);
    if (id < st.opt.senders) {
      asio::co_spawn(s.get_executor(), sender(*stream), asio::detached);
    }
    co_await reader(*stream);
  }
};

}  // namespace

chat_bench_result run_chat_bench(const chat_bench_options& options) {
  if (options.clients < 2) throw std::invalid_argument("--clients must be at least 2");
  if (options.senders == 0 || options.senders > options.clients)
    throw std::invalid_argument("--senders must be between 1 and --clients");
  if (!(options.rate > 0)) throw std::invalid_argument("--rate must be positive");
  if (options.web && options.endpoint.is_unix())
    throw std::invalid_argument("WebSocket members need a TCP endpoint (chat serve --web)");
  if (options.web && (options.web_path.empty() || options.web_path.front() != '/'))
    throw std::invalid_argument("the WebSocket path must start with '/'");
  std::error_code ec;
  std::string why;
  auto addrs = net::resolve(options.endpoint.with_transport(net::transport::tcp),
                            net::resolve_mode::connect, ec, &why);
  if (ec) throw std::system_error(ec, why);

  shared_state st{options, std::move(addrs)};
  if (options.tls) st.tls = session::make_tls_client_context();
  if (options.web) {
    const std::string& host = options.endpoint.host();
    st.web_host = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ':' +
                  std::to_string(options.endpoint.port());
  }
  std::mt19937_64 seeds(std::random_device{}());
  // Declared before the pool so they outlive every coroutine that refers to them; cleared
  // (below) before the pool goes, since their sockets and timers belong to its loops.
  std::vector<std::unique_ptr<client>> clients;
  const unsigned threads = options.threads == 0 ? 1 : options.threads;
  std::vector<loop_stats> per_loop(threads);
  session::io_pool pool(threads);
  for (unsigned i = 0; i < options.clients; ++i) {
    clients.push_back(
        std::make_unique<client>(st, per_loop[i % threads], i, pool.context(i % threads), seeds()));
  }
  pool.start();

  auto poll_until = [](clock_type::time_point limit, auto done) {
    while (!done() && clock_type::now() < limit)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  // Everyone in the room first (each has had a line from the server), so each message has
  // a known audience. Members join a few at a time, as people do: servers with a short
  // listen backlog (ncat's) would otherwise drop SYNs and stall joins for seconds.
  constexpr unsigned join_window = 32;
  unsigned spawned = 0;
  poll_until(clock_type::now() + options.setup, [&] {
    auto settled = st.ready.load() + st.disconnected.load() + st.failed.load();
    while (spawned < options.clients && spawned < settled + join_window) {
      asio::co_spawn(pool.context(spawned % threads), clients[spawned]->run(), asio::detached);
      ++spawned;
    }
    return settled >= options.clients;
  });
  const unsigned ready = st.ready.load();
  if (options.on_sending) options.on_sending();
  const std::int64_t setup_ns = st.now_ns();
  auto start = setup_ns + 20'000'000;  // 20 ms for the senders to see it
  st.end_ns.store(start + std::chrono::nanoseconds(options.duration).count());
  st.start_ns.store(start);
  std::this_thread::sleep_until(st.epoch + std::chrono::nanoseconds(st.end_ns.load()) +
                                std::chrono::milliseconds(5));
  const std::uint64_t audience = ready > 0 ? ready - 1 : 0;
  poll_until(clock_type::now() + options.drain,
             [&] { return st.delivered.load() >= st.sent.load() * audience; });
  if (options.on_drained) options.on_drained();
  st.finishing.store(true);
  for (auto& c : clients) asio::post(c->sock.get_executor(), [p = c.get()] { p->finish(); });
  pool.release();
  pool.join();  // every coroutine has finished: nothing refers to the clients any more
  // Their sockets and timers unregister from the loops, so they go while the pool is alive.
  clients.clear();

  chat_bench_result r;
  r.connected = st.connected.load();
  r.ready = ready;
  r.sent = st.sent.load();
  r.expected = r.sent * audience;
  r.delivered = st.delivered.load();
  r.disconnected = st.disconnected.load();
  r.error = st.error;
  auto span_ns = std::max<std::int64_t>(st.last_delivery_ns.load() - start,
                                        std::chrono::nanoseconds(options.duration).count());
  r.seconds = static_cast<double>(span_ns) / 1e9;
  r.setup_seconds = static_cast<double>(setup_ns) / 1e9;
  for (auto& l : per_loop) {
    r.latency.merge(l.latency);
    r.out_of_order += l.out_of_order;
  }
  return r;
}

}  // namespace sockit::service
