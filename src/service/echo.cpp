// echo_server: accept loop on loop 0, connections spread round-robin over the pool,
// UDP as one SO_REUSEPORT socket per loop.
#include "sockit/service/echo.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/generic/datagram_protocol.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "sockit/net/error.hpp"
#include "sockit/net/resolver.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/session/echo_loop.hpp"
#include "sockit/session/io_pool.hpp"

namespace sockit::service {
namespace {

using stream_socket =
    asio::basic_stream_socket<asio::generic::stream_protocol, asio::io_context::executor_type>;
using acceptor_type = asio::basic_socket_acceptor<asio::generic::stream_protocol>;
using datagram_socket = asio::generic::datagram_protocol::socket;
constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);

std::string peer_of(const stream_socket& s) {
  std::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown";
  return net::socket_address(ep.data(), static_cast<socklen_t>(ep.size())).to_string();
}

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
// known when the idle watchdog wins the `||` race and the loop's own result is discarded.
asio::awaitable<void> echo_into(stream_socket& sock, std::span<char> buf, bool upper,
                                session::activity* act, session::echo_result& out) {
  out = co_await session::echo_loop(sock, buf, upper, act);
}

}  // namespace

struct echo_server::impl {
  echo_options opt;
  session::io_pool pool;
  std::function<void(const echo_event&)> callback;
  net::endpoint bound;
  int protocol = 0;  // IPPROTO_TCP, IPPROTO_UDP, or 0 for AF_UNIX
  int family = AF_UNSPEC;

  std::unique_ptr<acceptor_type> acceptor;            // lives on loop 0
  std::vector<std::unique_ptr<datagram_socket>> udp;  // one per loop
  int spare_fd = -1;  // kept open to accept-and-close when out of descriptors

  // Per-loop connection registry, touched only on its own loop's thread.
  struct loop_state {
    std::unordered_set<stream_socket*> sockets;
    bool stopping = false;
  };
  std::vector<loop_state> loops;
  std::atomic<unsigned> next_loop{0};

  std::atomic<std::uint64_t> accepted{0}, rejected{0}, active{0}, idle_closed{0}, bytes{0},
      datagrams{0};

  std::mutex mu;
  std::condition_variable cv;
  bool started = false, stopped = false, stopping = false;
  bool remove_unix_path = false;

  explicit impl(echo_options o) : opt(std::move(o)), pool(opt.threads), loops(pool.size()) {}

  void emit(echo_event::type what, std::string peer, std::uint64_t n = 0, std::string detail = {}) {
    if (callback) callback(echo_event{what, std::move(peer), n, std::move(detail)});
  }

  void open_stream() {
    std::error_code ec;
    std::string why;
    net::socket listener = net::socket::listen(opt.endpoint, ec, &why);
    if (ec) throw std::system_error(ec, why);
    auto local = listener.local_address();
    family = local.family();
    protocol = family == AF_UNIX ? 0 : IPPROTO_TCP;
    bound = opt.endpoint.is_unix() ? opt.endpoint : local.to_endpoint(net::transport::tcp);
    remove_unix_path = opt.endpoint.type() == net::endpoint::kind::unix_path;
    acceptor = std::make_unique<acceptor_type>(pool.context(0));
    acceptor->assign(asio::generic::stream_protocol(family, protocol), listener.release());
    spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
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
    family = local.family();
    protocol = IPPROTO_UDP;
    bound = local.to_endpoint(net::transport::udp);
    std::vector<net::socket> all;
    all.push_back(std::move(first));
    for (unsigned i = 1; i < pool.size(); ++i) all.push_back(bind_udp(local, dual));
    for (unsigned i = 0; i < pool.size(); ++i) {
      auto s = std::make_unique<datagram_socket>(pool.context(i));
      s->assign(asio::generic::datagram_protocol(family, protocol), all[i].release());
      udp.push_back(std::move(s));
    }
  }

  // Out of file descriptors: accept the waiting connection with the spare descriptor and
  // close it at once, so the listener is not left readable forever (which would spin).
  bool shed_one_connection() {
    if (spare_fd < 0) return false;
    ::close(spare_fd);
    int fd = ::accept4(acceptor->native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) ::close(fd);
    spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0;
  }

  asio::awaitable<void> accept_loop() {
    asio::steady_timer backoff(co_await asio::this_coro::executor);
    for (;;) {
      unsigned index = next_loop.fetch_add(1, std::memory_order_relaxed) % pool.size();
      auto [ec, sock] = co_await acceptor->async_accept(pool.context(index), token);
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      if (ec == asio::error::no_descriptors || ec == std::errc::too_many_files_open_in_system ||
          ec == asio::error::no_buffer_space || ec == asio::error::no_memory) {
        if (shed_one_connection()) {
          rejected.fetch_add(1, std::memory_order_relaxed);
          emit(echo_event::type::rejected, "unknown", 0, "out of file descriptors");
        } else {
          // Could not even shed: wait a little rather than spin on a readable listener.
          backoff.expires_after(std::chrono::milliseconds(50));
          co_await backoff.async_wait(token);
        }
        continue;
      }
      if (ec) continue;  // ECONNABORTED and friends: that client is gone, serve the next
      if (opt.max_conns != 0 && active.load(std::memory_order_relaxed) >= opt.max_conns) {
        rejected.fetch_add(1, std::memory_order_relaxed);
        if (callback) emit(echo_event::type::rejected, peer_of(sock), 0, "over --max-conns");
        std::error_code ignored;
        sock.close(ignored);
        continue;
      }
      active.fetch_add(1, std::memory_order_relaxed);
      accepted.fetch_add(1, std::memory_order_relaxed);
      asio::co_spawn(pool.context(index), connection(std::move(sock), index), asio::detached);
    }
  }

  asio::awaitable<void> connection(stream_socket sock, unsigned index) {
    using namespace asio::experimental::awaitable_operators;
    std::string peer = callback ? peer_of(sock) : std::string();
    loop_state& state = loops[index];
    std::uint64_t echoed = 0;
    std::string detail;
    bool timed_out = false;
    if (!state.stopping) {
      state.sockets.insert(&sock);
      std::error_code opt_ec;
      if (family != AF_UNIX) sock.set_option(asio::ip::tcp::no_delay(true), opt_ec);
      emit(echo_event::type::accepted, peer);
      std::vector<char> buf(opt.buffer_size);
      session::activity act;
      session::echo_result r;
      if (opt.idle_timeout.count() > 0) {
        auto v = co_await (echo_into(sock, buf, opt.upper, &act, r) ||
                           session::idle_watchdog(act, opt.idle_timeout));
        timed_out = v.index() == 1;
      } else {
        r = co_await session::echo_loop(sock, buf, opt.upper);
      }
      echoed = r.bytes;
      if (r.error && r.error != asio::error::operation_aborted) detail = r.error.message();
      state.sockets.erase(&sock);
    }
    std::error_code ignored;
    sock.shutdown(asio::socket_base::shutdown_both, ignored);
    sock.close(ignored);
    bytes.fetch_add(echoed, std::memory_order_relaxed);
    active.fetch_sub(1, std::memory_order_relaxed);
    if (timed_out) {
      idle_closed.fetch_add(1, std::memory_order_relaxed);
      emit(echo_event::type::idle_timeout, std::move(peer), echoed, "idle timeout");
    } else {
      emit(echo_event::type::closed, std::move(peer), echoed, std::move(detail));
    }
  }

  asio::awaitable<void> udp_loop(datagram_socket& s) {
    std::vector<char> buf(65536);
    asio::generic::datagram_protocol::endpoint from;
    for (;;) {
      auto [ec, n] = co_await s.async_receive_from(asio::buffer(buf), from, token);
      if (ec == asio::error::operation_aborted || !s.is_open()) co_return;
      if (ec) continue;  // e.g. ICMP errors reported on the socket: keep serving
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
    impl_->open_stream();
  }
}

echo_server::~echo_server() {
  stop();
  if (impl_->spare_fd >= 0) ::close(impl_->spare_fd);
}

net::endpoint echo_server::local_endpoint() const { return impl_->bound; }

void echo_server::on_event(std::function<void(const echo_event&)> callback) {
  impl_->callback = std::move(callback);
}

void echo_server::start() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->started) return;
    impl_->started = true;
  }
  if (impl_->acceptor) {
    asio::co_spawn(impl_->pool.context(0), impl_->accept_loop(), asio::detached);
  }
  for (auto& s : impl_->udp) {
    asio::co_spawn(s->get_executor(), impl_->udp_loop(*s), asio::detached);
  }
  impl_->pool.start();
}

void echo_server::stop() {
  {
    std::unique_lock lock(impl_->mu);
    if (impl_->stopped) return;
    if (impl_->stopping) {
      impl_->cv.wait(lock, [&] { return impl_->stopped; });
      return;
    }
    impl_->stopping = true;
  }
  impl* self = impl_.get();
  if (self->acceptor) {
    // Close the acceptor first and wait for it: a connection accepted just before must be
    // spawned on its loop before that loop is told to stop, or the loop can run out of work
    // and exit with the connection never run (counted accepted, never closed or reported).
    if (self->started) {
      std::promise<void> closed;
      asio::post(self->pool.context(0), [self, &closed] {
        std::error_code ignored;
        self->acceptor->close(ignored);
        closed.set_value();
      });
      closed.get_future().wait();
    } else {
      std::error_code ignored;  // no loop runs: nothing else touches the acceptor
      self->acceptor->close(ignored);
    }
  }
  for (unsigned i = 0; i < self->pool.size(); ++i) {
    asio::post(self->pool.context(i), [self, i] {
      auto& state = self->loops[i];
      state.stopping = true;
      std::error_code ignored;
      for (stream_socket* s : state.sockets) s->close(ignored);
      if (i < self->udp.size()) self->udp[i]->close(ignored);
    });
  }
  self->pool.release();
  if (self->started) self->pool.join();
  if (self->remove_unix_path) ::unlink(self->opt.endpoint.path().c_str());
  {
    std::lock_guard lock(self->mu);
    self->stopped = true;
  }
  self->cv.notify_all();
}

void echo_server::wait() {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->stopped; });
}

echo_stats echo_server::stats() const {
  auto& i = *impl_;
  constexpr auto r = std::memory_order_relaxed;
  return echo_stats{i.accepted.load(r),    i.rejected.load(r), i.active.load(r),
                    i.idle_closed.load(r), i.bytes.load(r),    i.datagrams.load(r)};
}

}  // namespace sockit::service
