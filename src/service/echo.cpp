// echo_server: the echo loop on session::stream_server (TCP, Unix), and UDP as one
// SO_REUSEPORT socket per loop of the same pool, with replies rate-limited per source (in
// datagrams and bytes) and never sent to the privileged ports of the echo/chargen loop.
#include "sockit/service/echo.hpp"

#include <netinet/in.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/generic/datagram_protocol.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <atomic>
#include <optional>
#include <stdexcept>
#include <vector>

#include "sockit/net/error.hpp"
#include "sockit/net/resolver.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/session/address_limits.hpp"
#include "sockit/session/deadline.hpp"
#include "sockit/session/echo_loop.hpp"
#include "sockit/session/io_pool.hpp"
#include "sockit/session/stream_server.hpp"
#include "sockit/session/tls_stream.hpp"

namespace sockit::service {
namespace {

using session::stream_socket;
using stream_type = session::maybe_tls<stream_socket>;
using datagram_socket = asio::generic::datagram_protocol::socket;
constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);

// A UDP socket bound with SO_REUSEPORT so that one socket per loop can share the port.
net::socket bind_udp(const net::socket_address& addr, bool dual_stack) {
  net::socket s(::socket(addr.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.is_open()) throw std::system_error(errno, std::system_category(), "socket()");
  int one = 1, zero = 0;
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (dual_stack && addr.family() == AF_INET6)
    ::setsockopt(s.native_handle(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (::bind(s.native_handle(), addr.data(), addr.size()) != 0) {
    throw std::system_error(errno, std::system_category(),
                            "cannot bind " + addr.to_string(net::transport::udp));
  }
  return s;
}

// Runs the echo loop and stores its result in `out`, so that the bytes echoed are still
// known when the idle deadline wins the `||` race and the loop's own result is discarded.
asio::awaitable<void> echo_into(stream_type& sock, std::span<char> buf, bool upper,
                                session::deadline& idle, session::deadline::clock::duration after,
                                session::echo_result& out) {
  out = co_await session::echo_loop(sock, buf, upper, &idle, after);
}

// The source port of a datagram, or 0 for a family without one.
std::uint16_t source_port(const asio::generic::datagram_protocol::endpoint& from) {
  const sockaddr* sa = from.data();
  if (sa->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  if (sa->sa_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
  return 0;
}

}  // namespace

bool udp_loop_port(std::uint16_t port) noexcept { return port < 1024; }

struct echo_server::impl {
  echo_options opt;
  session::stream_server server;
  std::function<void(const echo_event&)> callback;
  net::endpoint udp_bound;
  std::vector<std::unique_ptr<datagram_socket>> udp;  // one per loop
  // Shared by the loops: the kernel spreads one address's datagrams (from several ports)
  // over every loop's socket, and the limit is per address.
  std::optional<session::source_limiter> udp_limit;
  std::shared_ptr<asio::ssl::context> tls;  // null: plaintext

  session::connection_count conns;
  std::atomic<std::uint64_t> rejected{0}, idle_closed{0}, bytes{0}, datagrams{0}, udp_refused{0},
      udp_limited{0};

  explicit impl(echo_options o) : opt(std::move(o)), server(opt.threads), conns(opt.max_conns) {
    if (!opt.tls.cert_pem.empty())
      tls = session::make_tls_server_context(opt.tls.cert_pem, opt.tls.key_pem);
    // Written as !(x >= ...) so that NaN is refused too.
    if (!(opt.udp_rate >= 0) || !(opt.udp_byte_rate >= 0))
      throw std::invalid_argument("the UDP rates must not be negative");
    if (opt.udp_rate > 0) {
      if (!(opt.udp_burst >= 1) || (opt.udp_byte_rate > 0 && !(opt.udp_byte_burst >= 1)))
        throw std::invalid_argument("the UDP bursts must be at least 1");
      udp_limit.emplace(session::source_limiter::limits{opt.udp_rate, opt.udp_burst,
                                                        opt.udp_byte_rate, opt.udp_byte_burst},
                        opt.udp_sources);
    }
  }

  void emit(echo_event::type what, std::string peer, std::uint64_t n = 0, std::string detail = {}) {
    if (callback) callback(echo_event{what, std::move(peer), n, std::move(detail)});
  }

  void open_udp() {
    if (opt.endpoint.is_unix()) {
      throw std::system_error(
          make_error_code(errc::invalid_endpoint),
          "UDP echo needs a HOST:PORT endpoint, not " + opt.endpoint.to_string());
    }
    std::error_code ec;
    std::string why;
    auto e = opt.endpoint.with_transport(net::transport::udp);
    auto addrs = net::resolve(e, net::resolve_mode::listen, ec, &why);
    if (ec) throw std::system_error(ec, why);
    bool dual = e.host().empty();
    net::socket first = bind_udp(addrs.front(), dual);
    auto local = first.local_address();
    udp_bound = local.to_endpoint(net::transport::udp);
    std::vector<net::socket> all;
    all.push_back(std::move(first));
    auto& pool = server.pool();
    for (unsigned i = 1; i < pool.size(); ++i) all.push_back(bind_udp(local, dual));
    for (unsigned i = 0; i < pool.size(); ++i) {
      auto s = std::make_unique<datagram_socket>(pool.context(i));
      s->assign(asio::generic::datagram_protocol(local.family(), IPPROTO_UDP), all[i].release());
      udp.push_back(std::move(s));
    }
  }

  session::stream_server::hooks hooks() {
    session::stream_server::hooks h;
    h.serve = [this](stream_socket& s, unsigned) { return connection(s); };
    h.admit = [this] { return conns.try_admit(); };
    h.max_per_address = opt.max_conns_per_ip;
    h.refused = [this](stream_socket* s, session::refusal why) {
      rejected.fetch_add(1, std::memory_order_relaxed);
      if (!callback) return;
      if (why == session::refusal::full) {
        emit(echo_event::type::rejected, s ? session::peer_name(*s) : "unknown", 0,
             "over --max-conns");
      } else if (why == session::refusal::per_address) {
        emit(echo_event::type::rejected, s ? session::peer_name(*s) : "unknown", 0,
             "over --max-conns-per-ip");
      } else {
        emit(echo_event::type::rejected, "unknown", 0, "out of file descriptors");
      }
    };
    h.on_stop = [this](unsigned i) {
      std::error_code ignored;
      if (i < udp.size()) udp[i]->close(ignored);
    };
    return h;
  }

  asio::awaitable<void> connection(stream_socket& sock) {
    using namespace asio::experimental::awaitable_operators;
    std::string peer = callback ? session::peer_name(sock) : std::string();
    emit(echo_event::type::accepted, peer);
    stream_type stream(sock, tls.get());
    if (stream.is_tls()) {
      session::deadline hd;  // a client that stalls mid-handshake is dropped
      hd.expires_after(opt.handshake_timeout);
      bool plaintext = false;
      static constexpr std::string_view told =
          "sockit echo: this server speaks TLS (sockit connect --tls, openssl s_client)\n";
      auto v =
          co_await (session::accept_tls(stream, told, plaintext) || session::watch_deadline(hd));
      std::error_code hec = v.index() == 0 ? std::get<0>(v) : make_error_code(std::errc::timed_out);
      if (hec) {
        conns.release();
        emit(echo_event::type::closed, std::move(peer), 0,
             plaintext ? std::string("tls: a plaintext client") : "tls: " + hec.message());
        co_return;
      }
    }
    std::vector<char> buf(opt.buffer_size);
    session::echo_result r;
    bool timed_out = false;
    if (opt.idle_timeout.count() > 0) {
      session::deadline idle;  // each read moves it on: the time since the last byte
      idle.expires_after(opt.idle_timeout);
      auto v = co_await (echo_into(stream, buf, opt.upper, idle, opt.idle_timeout, r) ||
                         session::watch_deadline(idle));
      timed_out = v.index() == 1;
    } else {
      r = co_await session::echo_loop(stream, buf, opt.upper);
    }
    stream_type::map_truncation(r.error);  // no close_notify: the end, as a FIN is
    if (stream.is_tls() && (!r.error || r.error == asio::error::eof) && !timed_out) {
      // The peer has ended: end ours too (close_notify), bounded.
      session::deadline cd;
      cd.expires_after(std::chrono::seconds(2));
      co_await (stream.async_close_notify(asio::experimental::as_tuple(asio::use_awaitable)) ||
                session::watch_deadline(cd));
    }
    std::string detail;
    if (r.error && r.error != asio::error::eof && r.error != asio::error::operation_aborted)
      detail = r.error.message();
    bytes.fetch_add(r.bytes, std::memory_order_relaxed);
    conns.release();
    if (timed_out) {
      idle_closed.fetch_add(1, std::memory_order_relaxed);
      emit(echo_event::type::idle_timeout, std::move(peer), r.bytes, "idle timeout");
    } else {
      emit(echo_event::type::closed, std::move(peer), r.bytes, std::move(detail));
    }
  }

  asio::awaitable<void> udp_loop(datagram_socket& s) {
    std::vector<char> buf(65536);
    asio::generic::datagram_protocol::endpoint from;
    const std::uint16_t own_port = udp_bound.port();
    for (;;) {
      auto [ec, n] = co_await s.async_receive_from(asio::buffer(buf), from, token);
      if (ec == asio::error::operation_aborted || !s.is_open()) co_return;
      if (ec) continue;  // e.g. ICMP errors reported on the socket: keep serving
      // Another echo-like server (on a privileged port, or ourselves as a forged source)
      // would answer the reply and the two would bounce one datagram forever.
      std::uint16_t port = source_port(from);
      if (udp_loop_port(port) || port == own_port) {
        udp_refused.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (udp_limit &&
          !udp_limit->allow(session::address_key(from.data(), static_cast<socklen_t>(from.size())),
                            session::source_limiter::clock::now(), n)) {
        udp_limited.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (opt.upper) session::ascii_upper(std::span<char>(buf.data(), n));
      datagrams.fetch_add(1, std::memory_order_relaxed);
      co_await s.async_send_to(asio::buffer(buf.data(), n), from, token);
    }
  }
};

echo_server::echo_server(echo_options options) : impl_(std::make_unique<impl>(std::move(options))) {
  if (impl_->opt.udp) {
    impl_->open_udp();
  } else {
    impl_->server.listen(impl_->opt.endpoint);
  }
}

echo_server::~echo_server() { stop(); }

net::endpoint echo_server::local_endpoint() const {
  return impl_->opt.udp ? impl_->udp_bound : impl_->server.local_endpoint();
}

const std::string& echo_server::identity() const { return impl_->opt.tls.fingerprint; }

void echo_server::on_event(std::function<void(const echo_event&)> callback) {
  impl_->callback = std::move(callback);
}

void echo_server::start() {
  for (auto& s : impl_->udp) {
    asio::co_spawn(s->get_executor(), impl_->udp_loop(*s), asio::detached);
  }
  impl_->server.start(impl_->hooks());
}

void echo_server::stop() { impl_->server.stop(); }

void echo_server::wait() { impl_->server.wait(); }

echo_stats echo_server::stats() const {
  auto& i = *impl_;
  constexpr auto r = std::memory_order_relaxed;
  return echo_stats{i.conns.accepted(),    i.rejected.load(r),   i.conns.active(),
                    i.idle_closed.load(r), i.bytes.load(r),      i.datagrams.load(r),
                    i.udp_refused.load(r), i.udp_limited.load(r)};
}

}  // namespace sockit::service
