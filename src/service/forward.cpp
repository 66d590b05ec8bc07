// forward_server: each accepted connection (session::stream_server) connects to the target,
// trying its addresses in order within connect_timeout each, then runs two pumps, one per
// direction, until both have ended. Target sockets are tracked per loop so that stop()
// closes them too (a connect in progress must not hold a stop for its timeout).
#include "sockit/service/forward.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <atomic>
#include <stdexcept>
#include <unordered_set>
#include <vector>

#include "sockit/net/resolver.hpp"
#include "sockit/session/deadline.hpp"
#include "sockit/session/io_pool.hpp"
#include "sockit/session/stream_pump.hpp"
#include "sockit/session/stream_server.hpp"

namespace sockit::service {
namespace {

using session::stream_socket;
using protocol = asio::generic::stream_protocol;
constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);

void no_delay(stream_socket& s) {
  int one = 1;  // a relay must not add Nagle's wait to what it passes on
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void shut_both(stream_socket& s) {
  std::error_code ignored;
  s.shutdown(asio::socket_base::shutdown_both, ignored);
}

forward_event event(forward_event::type what, std::string peer, std::string target = {}) {
  forward_event e;
  e.what = what;
  e.peer = std::move(peer);
  e.target = std::move(target);
  return e;
}

// An error worth reporting: not the ends a relay expects (a peer's close, our own stop).
std::string failure(const std::error_code& ec) {
  if (!ec || ec == asio::error::eof || ec == asio::error::operation_aborted ||
      ec == asio::error::bad_descriptor)
    return {};
  return ec.message();
}

}  // namespace

struct forward_server::impl {
  forward_options opt;
  session::stream_server server;
  std::vector<net::socket_address> targets;
  std::function<void(const forward_event&)> callback;
  session::connection_count conns;
  std::atomic<std::uint64_t> rejected{0}, target_failed{0}, bytes_up{0}, bytes_down{0};
  // Per loop, touched on that loop only: the target sockets of its connections.
  std::vector<std::unordered_set<stream_socket*>> open_targets;

  explicit impl(forward_options o) : opt(std::move(o)), server(opt.threads), conns(opt.max_conns) {
    if (opt.listen.proto() == net::transport::udp || opt.target.proto() == net::transport::udp)
      throw std::invalid_argument(
          "sockit forward relays TCP and Unix streams; UDP forwarding is not built yet");
    std::error_code ec;
    std::string why;
    targets = net::resolve(opt.target, net::resolve_mode::connect, ec, &why);
    if (ec) throw std::system_error(ec, why);
    open_targets.resize(server.pool().size());
  }

  void emit(forward_event e) {
    if (callback) callback(e);
  }

  session::stream_server::hooks hooks() {
    session::stream_server::hooks h;
    h.serve = [this](stream_socket& s, unsigned loop) { return connection(s, loop); };
    h.admit = [this] { return conns.try_admit(); };
    h.max_per_address = opt.max_conns_per_ip;
    h.refused = [this](stream_socket* s, session::refusal why) {
      rejected.fetch_add(1, std::memory_order_relaxed);
      if (!callback) return;
      auto e = event(forward_event::type::rejected, s ? session::peer_name(*s) : "unknown");
      e.detail = why == session::refusal::full          ? "over --max-conns"
                 : why == session::refusal::per_address ? "over --max-conns-per-ip"
                                                        : "out of file descriptors";
      emit(std::move(e));
    };
    h.on_stop = [this](unsigned loop) {
      std::error_code ignored;
      for (auto* t : open_targets[loop]) t->close(ignored);
    };
    return h;
  }

  // The first target address that accepts within connect_timeout; `tried` names the last
  // one tried and `why` what went wrong with it.
  asio::awaitable<bool> connect_target(stream_socket& t, std::string& tried, std::string& why) {
    using namespace asio::experimental::awaitable_operators;
    for (const auto& a : targets) {
      tried = a.to_string();
      std::error_code ec;
      if (t.is_open()) t.close(ec);
      t.open(protocol(a.family(), a.family() == AF_UNIX ? 0 : IPPROTO_TCP), ec);
      if (ec) {
        why = ec.message();
        continue;
      }
      session::deadline d;  // the services' one way of bounding an operation
      d.expires_after(opt.connect_timeout);
      auto v = co_await (t.async_connect(protocol::endpoint(a.data(), a.size()), token) ||
                         session::watch_deadline(d));
      if (v.index() == 1) {
        why = "timed out";
        continue;
      }
      auto [cec] = std::get<0>(v);
      if (!cec) co_return true;
      why = cec.message();
      if (cec == asio::error::operation_aborted) co_return false;  // stopping
    }
    co_return false;
  }

  asio::awaitable<void> connection(stream_socket& client, unsigned loop) {
    using namespace asio::experimental::awaitable_operators;
    const auto began = std::chrono::steady_clock::now();
    std::string peer = callback ? session::peer_name(client) : std::string();
    stream_socket target(client.get_executor());
    open_targets[loop].insert(&target);
    struct untrack {
      std::unordered_set<stream_socket*>& set;
      stream_socket* t;
      ~untrack() { set.erase(t); }
    } guard{open_targets[loop], &target};

    std::string tried, why;
    if (!co_await connect_target(target, tried, why)) {
      target_failed.fetch_add(1, std::memory_order_relaxed);
      conns.release();
      auto e = event(forward_event::type::target_failed, std::move(peer), std::move(tried));
      e.detail = std::move(why);
      emit(std::move(e));
      co_return;
    }
    std::error_code ignored;
    client.non_blocking(true, ignored);
    target.non_blocking(true, ignored);
    no_delay(client);
    no_delay(target);
    emit(event(forward_event::type::connected, peer, tried));

    // Each direction runs until its source ends (the half-close is passed on) or fails;
    // a failure shuts both sockets down, which ends the other direction's waits too.
    session::pump_result up, down;
    auto direction = [this, &client, &target](stream_socket& from, stream_socket& to,
                                              session::pump_result& out) -> asio::awaitable<void> {
      out = co_await session::pump(from, to, opt.zero_copy);
      if (out.error) {
        shut_both(client);
        shut_both(target);
      }
    };
    co_await (direction(client, target, up) && direction(target, client, down));
    target.close(ignored);
    bytes_up.fetch_add(up.bytes, std::memory_order_relaxed);
    bytes_down.fetch_add(down.bytes, std::memory_order_relaxed);
    conns.release();
    if (!callback) co_return;
    auto e = event(forward_event::type::closed, std::move(peer), std::move(tried));
    e.bytes_up = up.bytes;
    e.bytes_down = down.bytes;
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    e.detail = failure(up.error);
    if (e.detail.empty()) e.detail = failure(down.error);
    emit(std::move(e));
  }
};

forward_server::forward_server(forward_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {
  impl_->server.listen(impl_->opt.listen);
}

forward_server::~forward_server() { stop(); }

net::endpoint forward_server::local_endpoint() const { return impl_->server.local_endpoint(); }

void forward_server::on_event(std::function<void(const forward_event&)> callback) {
  impl_->callback = std::move(callback);
}

void forward_server::start() { impl_->server.start(impl_->hooks()); }

void forward_server::stop() { impl_->server.stop(); }

void forward_server::wait() { impl_->server.wait(); }

forward_stats forward_server::stats() const {
  auto& i = *impl_;
  constexpr auto r = std::memory_order_relaxed;
  return forward_stats{i.conns.accepted(), i.rejected.load(r), i.target_failed.load(r),
                       i.conns.active(),   i.bytes_up.load(r), i.bytes_down.load(r)};
}

}  // namespace sockit::service
