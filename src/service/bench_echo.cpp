// bench_echo: one coroutine per connection; each round sends `pipeline` messages in one
// write and reads them back, timing each message to its last byte.
#include "sockit/service/bench_echo.hpp"

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/generic/datagram_protocol.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <cstring>
#include <mutex>
#include <string_view>
#include <vector>

#include "sockit/net/resolver.hpp"
#include "sockit/session/echo_loop.hpp"
#include "sockit/session/io_pool.hpp"
#include "sockit/session/tls_stream.hpp"

namespace sockit::service {
namespace {

using namespace asio::experimental::awaitable_operators;
using clock_type = std::chrono::steady_clock;
constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::string_view alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

// Bytes that survive bytes.upper(): digits and capitals, shifted by `seed` so that a stale
// or reordered echo differs from the expected one.
void fill_pattern(char* out, std::size_t n, std::uint64_t seed) {
  for (std::size_t i = 0; i < n; ++i) out[i] = alphabet[(seed + i) % alphabet.size()];
}

// UDP datagrams carry their sequence number as 16 capital hex digits when they have room.
void put_seq(char* out, std::size_t n, std::uint64_t seq) {
  if (n < 16) return;
  for (int i = 15; i >= 0; --i) {
    out[i] = "0123456789ABCDEF"[seq & 0xF];
    seq >>= 4;
  }
}

bool get_seq(const char* in, std::size_t n, std::uint64_t& seq) {
  if (n < 16) return false;
  seq = 0;
  for (int i = 0; i < 16; ++i) {
    char c = in[i];
    unsigned d = c >= '0' && c <= '9'   ? unsigned(c - '0')
                 : c >= 'A' && c <= 'F' ? unsigned(c - 'A' + 10)
                                        : 99;
    if (d > 15) return false;
    seq = (seq << 4) | d;
  }
  return true;
}

struct conn_stats {
  std::uint64_t round_trips = 0, bytes = 0, errors = 0, mismatches = 0, timeouts = 0;
  bool connected = false;
  latency_histogram latency;
};

struct runner {
  const bench_echo_options& opt;
  std::vector<net::socket_address> addrs;
  clock_type::time_point end;
  std::shared_ptr<asio::ssl::context> tls{};  // null: plaintext

  asio::awaitable<void> sleep_until(clock_type::time_point t) {
    asio::steady_timer timer(co_await asio::this_coro::executor, t);
    co_await timer.async_wait(token);
  }

  template <class Socket, class Protocol>
  asio::awaitable<bool> connect(Socket& s, int type) {
    for (const auto& a : addrs) {
      int proto = a.family() == AF_UNIX ? 0 : (type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP);
      typename Protocol::endpoint ep(a.data(), a.size(), proto);
      std::error_code ec;
      s.close(ec);
      auto [cec] = co_await s.async_connect(ep, token);
      if (!cec) co_return true;
    }
    co_return false;
  }

  asio::awaitable<void> tcp_connection(unsigned id, conn_stats& st) {
    asio::generic::stream_protocol::socket s(co_await asio::this_coro::executor);
    if (!co_await connect<decltype(s), asio::generic::stream_protocol>(s, SOCK_STREAM)) {
      ++st.errors;
      co_return;
    }
    std::error_code ec;
    if (addrs.front().family() != AF_UNIX) s.set_option(asio::ip::tcp::no_delay(true), ec);
    session::maybe_tls<decltype(s)> stream(s, tls.get());
    if (stream.is_tls()) {
      auto [hec] = co_await stream.async_client_handshake(token);
      if (hec) {
        ++st.errors;
        co_return;
      }
    }
    st.connected = true;
    const std::size_t size = opt.size, k = opt.pipeline, total = size * k;
    std::vector<char> out(total), in(total);
    std::uint64_t seq = std::uint64_t{id} << 32;
    while (clock_type::now() < end) {
      for (std::size_t m = 0; m < k; ++m) fill_pattern(out.data() + m * size, size, seq + m);
      auto t0 = clock_type::now();
      std::size_t got = 0, done = 0;
      auto reader = [&]() -> asio::awaitable<std::error_code> {
        while (got < total) {
          auto [rec, n] =
              co_await stream.async_read_some(asio::buffer(in.data() + got, total - got), token);
          if (rec) co_return rec;
          got += n;
          auto now = clock_type::now();
          while (done < k && got >= (done + 1) * size) {
            st.latency.record(static_cast<std::uint64_t>((now - t0).count()));
            ++done;
          }
        }
        co_return std::error_code{};
      };
      std::error_code rec, wec;
      if (total <= 32 * 1024) {
        // Small rounds fit in the socket buffers: write, then read, with no extra coroutine.
        auto [e, n] = co_await asio::async_write(stream, asio::buffer(out), token);
        wec = e;
        if (!wec) rec = co_await reader();
      } else {
        auto writer = [&]() -> asio::awaitable<std::error_code> {
          auto [e, n] = co_await asio::async_write(stream, asio::buffer(out), token);
          co_return e;
        };
        auto [w, r] = co_await (writer() && reader());
        wec = w;
        rec = r;
      }
      if (wec || rec) {
        if (clock_type::now() < end) ++st.errors;  // a cut at the end is not the server's fault
        co_return;
      }
      for (std::size_t m = 0; m < k; ++m) {
        if (std::memcmp(in.data() + m * size, out.data() + m * size, size) != 0) ++st.mismatches;
      }
      st.round_trips += k;
      st.bytes += total;
      seq += k;
    }
    if (stream.is_tls()) co_await stream.async_close_notify(token);
    s.shutdown(asio::socket_base::shutdown_send, ec);
  }

  asio::awaitable<void> udp_connection(unsigned id, conn_stats& st) {
    asio::generic::datagram_protocol::socket s(co_await asio::this_coro::executor);
    if (!co_await connect<decltype(s), asio::generic::datagram_protocol>(s, SOCK_DGRAM)) {
      ++st.errors;
      co_return;
    }
    st.connected = true;
    const std::size_t size = opt.size, k = opt.pipeline;
    std::vector<char> out(size * k), in(size + 1);
    std::vector<bool> seen(k);
    std::uint64_t seq = std::uint64_t{id} << 32;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (clock_type::now() < end) {
      auto t0 = clock_type::now();
      for (std::size_t m = 0; m < k; ++m) {
        char* d = out.data() + m * size;
        fill_pattern(d, size, size >= 16 ? seq + m : 0);
        put_seq(d, size, seq + m);
        auto [e, n] = co_await s.async_send(asio::buffer(d, size), token);
        if (e) {
          ++st.errors;
          co_return;
        }
      }
      std::fill(seen.begin(), seen.end(), false);
      std::size_t done = 0;
      timer.expires_at(t0 + opt.timeout);
      while (done < k) {
        auto v = co_await (s.async_receive(asio::buffer(in), token) || timer.async_wait(token));
        if (v.index() == 1) break;  // no reply in time: those datagrams are lost
        auto [e, n] = std::get<0>(v);
        if (e) {
          ++st.errors;
          co_return;
        }
        std::size_t m = done;  // without sequence numbers, replies are taken in order
        std::uint64_t rseq;
        if (get_seq(in.data(), n, rseq)) {
          if (rseq < seq || rseq >= seq + k || seen[rseq - seq]) continue;  // late or duplicate
          m = rseq - seq;
        }
        seen[m] = true;
        ++done;
        st.latency.record(static_cast<std::uint64_t>((clock_type::now() - t0).count()));
        if (n != size || std::memcmp(in.data(), out.data() + m * size, size) != 0) {
          ++st.mismatches;
        } else {
          ++st.round_trips;
          st.bytes += n;
        }
      }
      st.timeouts += k - done;
      seq += k;
    }
  }

  asio::awaitable<void> guarded(unsigned id, conn_stats& st) {
    // A server that stalls must not hang the benchmark: give up shortly after the end.
    auto limit = end + opt.timeout;
    if (opt.udp) {
      co_await (udp_connection(id, st) || sleep_until(limit));
    } else {
      auto v = co_await (tcp_connection(id, st) || sleep_until(limit));
      if (v.index() == 1) ++st.errors;
    }
  }
};

}  // namespace

bench_echo_result run_bench_echo(const bench_echo_options& options) {
  std::error_code ec;
  std::string why;
  auto e = options.endpoint.with_transport(options.udp ? net::transport::udp : net::transport::tcp);
  auto addrs = net::resolve(e, net::resolve_mode::connect, ec, &why);
  if (ec) throw std::system_error(ec, why);
  if (options.size == 0 && !options.udp)
    throw std::invalid_argument("--size must be at least 1 byte for TCP");
  if (options.connections == 0 || options.pipeline == 0)
    throw std::invalid_argument("--connections and --pipeline must be at least 1");

  session::io_pool pool(options.threads);
  runner r{options, std::move(addrs), {}};
  if (options.tls) {
    if (options.udp) throw std::invalid_argument("TLS is for streams, not UDP");
    r.tls = session::make_tls_client_context();
  }
  std::vector<conn_stats> stats(options.connections);
  auto start = clock_type::now();
  r.end = start + options.duration;
  for (unsigned i = 0; i < options.connections; ++i) {
    asio::co_spawn(pool.context(i), r.guarded(i, stats[i]), asio::detached);
  }
  pool.start();
  pool.release();
  pool.join();
  auto elapsed = clock_type::now() - start;

  bench_echo_result out;
  out.seconds =
      std::chrono::duration<double>(std::min<clock_type::duration>(elapsed, options.duration))
          .count();
  for (auto& s : stats) {
    out.round_trips += s.round_trips;
    out.bytes += s.bytes;
    out.errors += s.errors;
    out.mismatches += s.mismatches;
    out.timeouts += s.timeouts;
    out.connected += s.connected ? 1 : 0;
    out.latency.merge(s.latency);
  }
  return out;
}

}  // namespace sockit::service
