// forward_server: each accepted connection (session::stream_server) connects to the target,
// trying its addresses in order within connect_timeout each, then runs two pumps, one per
// direction, until both have ended. Target sockets are tracked per loop so that stop()
// closes them too (a connect in progress must not hold a stop for its timeout). A SOCKS5
// server reads the client's request first (socks5_opening.cpp), resolves what it names
// without blocking the loop, and answers once the target has.
#include "sockit/service/forward.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <atomic>
#include <stdexcept>
#include <unordered_set>
#include <vector>

#include "forward_udp.hpp"
#include "sockit/net/address.hpp"
#include "sockit/net/resolver.hpp"
#include "sockit/session/deadline.hpp"
#include "sockit/session/io_pool.hpp"
#include "sockit/session/stream_pump.hpp"
#include "sockit/session/stream_server.hpp"
#include "socks5_opening.hpp"

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

// SOCKS5 with no allow list of its own: the machine's own clients only, less any it was told
// to deny (forward_options::peers). A deny list alone must not open it to everyone else.
net::address_filter loopback_only(const net::address_filter& given) {
  std::error_code ec;
  return net::address_filter(
      {net::subnet::parse("127.0.0.0/8", ec), net::subnet::parse("::1/128", ec)}, given.deny());
}

bool admitted(const net::address_filter& f, const stream_socket& s) {
  std::error_code ec;
  const auto ep = s.remote_endpoint(ec);
  return !ec && f.admits(ep.data(), static_cast<socklen_t>(ep.size()));
}

codec::socks5::address wire_address(const stream_socket& s) {
  std::error_code ec;
  const auto ep = s.local_endpoint(ec);
  if (ec) return {};
  const net::socket_address a(ep.data(), static_cast<socklen_t>(ep.size()));
  if (a.family() != AF_INET && a.family() != AF_INET6) return {};
  return {a.family() == AF_INET ? codec::socks5::address::kind::ipv4
                                : codec::socks5::address::kind::ipv6,
          a.host(), a.port()};
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
  auth_failures failures;  // SOCKS5 passwords
  static constexpr unsigned max_lookups = 16;
  std::atomic<unsigned> lookups{0};
  std::uint16_t listen_port = 0;
  std::string listen_host;
  bool loopback_default = false;

  explicit impl(forward_options o) : opt(std::move(o)), server(opt.threads), conns(opt.max_conns) {
    if (!opt.socks5 && opt.target.proto() == net::transport::udp && !opt.target.is_unix())
      throw std::invalid_argument("a UDP TARGET needs a UDP LISTEN (udp://HOST:PORT)");
    loopback_default = opt.socks5 && opt.peers.allow().empty();
    if (loopback_default) opt.peers = loopback_only(opt.peers);
    if (!opt.socks5) {
      std::error_code ec;
      std::string why;
      targets = net::resolve(opt.target, net::resolve_mode::connect, ec, &why);
      if (ec) throw std::system_error(ec, why);
    }
    open_targets.resize(server.pool().size());
  }

  void reject(std::string peer, std::string detail, std::string requested = {}) {
    rejected.fetch_add(1, std::memory_order_relaxed);
    auto e = event(forward_event::type::rejected, std::move(peer));
    e.detail = std::move(detail);
    e.requested = std::move(requested);
    emit(std::move(e));
  }

  // This proxy's own port at a loopback address or at the address it listens on.
  bool is_self(const net::socket_address& a) const {
    if (a.port() != listen_port) return false;
    std::error_code ec;
    const auto ip = net::ip_address::parse(a.host(), ec);
    return !ec && (ip.flags().is_loopback || a.host() == listen_host || listen_host == "::" ||
                   listen_host == "0.0.0.0");
  }

  // What a SOCKS5 request names. An address is taken as it is; a name is resolved on the
  // loop's resolver thread (getaddrinfo blocks; the loop must not). That thread does one
  // lookup at a time, so lookups in flight are capped: a client asking for names that never
  // answer can hold up only other names, never a request for an address.
  asio::awaitable<std::vector<net::socket_address>> resolve(const codec::socks5::address& dst,
                                                            std::string& why) {
    std::vector<net::socket_address> out;
    if (dst.type != codec::socks5::address::kind::domain) {
      std::error_code ec;
      const auto ep = net::endpoint::parse(dst.to_string(), ec);
      if (!ec) out = net::resolve(ep, net::resolve_mode::connect, ec);  // numeric: no lookup
      if (ec) why = "bad address " + dst.to_string();
      co_return out;
    }
    if (lookups.fetch_add(1, std::memory_order_relaxed) >= max_lookups) {
      lookups.fetch_sub(1, std::memory_order_relaxed);
      why = "too many name lookups in flight";
      co_return out;
    }
    struct done {
      std::atomic<unsigned>& n;
      ~done() { n.fetch_sub(1, std::memory_order_relaxed); }
    } lookup_done{lookups};
    asio::ip::tcp::resolver r(co_await asio::this_coro::executor);
    const auto flags = dst.type == codec::socks5::address::kind::domain
                           ? asio::ip::resolver_base::flags()
                           : asio::ip::resolver_base::numeric_host;
    const std::string port = std::to_string(dst.port);  // named: see socks5_opening.cpp
    auto [ec, results] = co_await r.async_resolve(
        dst.host, port, flags | asio::ip::resolver_base::numeric_service, token);
    if (ec) {
      why = "cannot resolve " + dst.host + ": " + ec.message();
      co_return out;
    }
    for (const auto& entry : results)
      out.emplace_back(entry.endpoint().data(), static_cast<socklen_t>(entry.endpoint().size()));
    co_return out;
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

  // The first of `addresses` that accepts within connect_timeout; `tried` names the last
  // one tried, `why` what went wrong with it and `last` its error.
  asio::awaitable<bool> connect_target(stream_socket& t,
                                       const std::vector<net::socket_address>& addresses,
                                       std::string& tried, std::string& why,
                                       std::error_code& last) {
    using namespace asio::experimental::awaitable_operators;
    for (const auto& a : addresses) {
      tried = a.to_string();
      std::error_code ec;
      if (t.is_open()) t.close(ec);
      t.open(protocol(a.family(), a.family() == AF_UNIX ? 0 : IPPROTO_TCP), ec);
      if (ec) {
        why = ec.message();
        last = ec;
        continue;
      }
      session::deadline d;  // the services' one way of bounding an operation
      d.expires_after(opt.connect_timeout);
      auto v = co_await (t.async_connect(protocol::endpoint(a.data(), a.size()), token) ||
                         session::watch_deadline(d));
      if (v.index() == 1) {
        why = "timed out";
        last = std::make_error_code(std::errc::timed_out);
        continue;
      }
      auto [cec] = std::get<0>(v);
      if (!cec) co_return true;
      why = cec.message();
      last = cec;
      if (cec == asio::error::operation_aborted) co_return false;  // stopping
    }
    co_return false;
  }

  asio::awaitable<void> connection(stream_socket& client, unsigned loop) {
    using namespace asio::experimental::awaitable_operators;
    const auto began = std::chrono::steady_clock::now();
    // Named on entry: once the socket has closed, its peer's name is gone with it.
    const bool named_peer = callback || opt.on_bytes || opt.socks5 || !opt.peers.empty();
    std::string peer = named_peer ? session::peer_name(client) : std::string();
    stream_socket target(client.get_executor());
    open_targets[loop].insert(&target);
    struct untrack {
      std::unordered_set<stream_socket*>& set;
      stream_socket* t;
      ~untrack() { set.erase(t); }
    } guard{open_targets[loop], &target};

    struct release_on_exit {
      session::connection_count& c;
      ~release_on_exit() { c.release(); }
    } release{conns};
    if (!opt.peers.empty() && !admitted(opt.peers, client)) {
      reject(peer, loopback_default ? "not a loopback client (a SOCKS5 server serves only its own "
                                      "machine unless told whom else: --allow)"
                                    : "not in the allowed subnets (--allow, --deny)");
      co_return;
    }
    std::string requested, tried, why;
    const std::vector<net::socket_address>* addresses = &targets;
    std::vector<net::socket_address> named;
    if (opt.socks5) {
      socks5_request req =
          co_await socks5_opening(client, opt.users, opt.handshake_timeout, failures);
      if (!req.ok) {
        reject(peer, "SOCKS5: " + req.refusal);
        co_return;
      }
      requested = req.dst.to_string();
      named = co_await resolve(req.dst, why);
      addresses = &named;
      if (std::any_of(named.begin(), named.end(), [this](const auto& a) { return is_self(a); })) {
        // A CONNECT back into this proxy would chain without end, each hop a new loopback
        // client taking a place of the machine's own users.
        codec::socks5::address none;
        co_await socks5_reply(client, codec::socks5::reply::not_allowed, none);
        reject(peer, "SOCKS5: asked to connect back to this proxy", requested);
        co_return;
      }
    }
    std::error_code last;
    if (addresses->empty() || !co_await connect_target(target, *addresses, tried, why, last)) {
      target_failed.fetch_add(1, std::memory_order_relaxed);
      if (opt.socks5) {
        const auto code =
            addresses->empty() ? codec::socks5::reply::host_unreachable : socks5_reply_for(last);
        codec::socks5::address none;  // named: no temporaries in a co_await (GCC 12)
        co_await socks5_reply(client, code, none);
      }
      auto e = event(forward_event::type::target_failed, std::move(peer), std::move(tried));
      e.detail = std::move(why);
      e.requested = std::move(requested);
      emit(std::move(e));
      co_return;
    }
    if (opt.socks5) {
      const codec::socks5::address bound = wire_address(target);
      if (co_await socks5_reply(client, codec::socks5::reply::succeeded, bound))
        co_return;  // the client left before hearing the answer
    }
    std::error_code ignored;
    client.non_blocking(true, ignored);
    target.non_blocking(true, ignored);
    no_delay(client);
    no_delay(target);
    auto connected = event(forward_event::type::connected, peer, tried);
    connected.requested = requested;
    emit(std::move(connected));

    // Each direction runs until its source ends (the half-close is passed on) or fails;
    // a failure shuts both sockets down, which ends the other direction's waits too.
    session::pump_result up, down;
    auto direction = [this, &client, &target, &peer](
                         stream_socket& from, stream_socket& to,
                         session::pump_result& out) -> asio::awaitable<void> {
      if (opt.on_bytes) {
        const bool to_target = &from == &client;
        const session::pump_tap tap = [this, &peer, to_target](std::uint64_t offset,
                                                               std::span<const std::byte> data) {
          opt.on_bytes(peer, to_target, offset, data);
        };
        out = co_await session::pump(from, to, tap);
      } else {
        out = co_await session::pump(from, to, opt.zero_copy);
      }
      if (out.error) {
        shut_both(client);
        shut_both(target);
      }
    };
    co_await (direction(client, target, up) && direction(target, client, down));
    target.close(ignored);
    bytes_up.fetch_add(up.bytes, std::memory_order_relaxed);
    bytes_down.fetch_add(down.bytes, std::memory_order_relaxed);
    if (!callback) co_return;
    auto e = event(forward_event::type::closed, std::move(peer), std::move(tried));
    e.requested = std::move(requested);
    e.bytes_up = up.bytes;
    e.bytes_down = down.bytes;
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    e.detail = failure(up.error);
    if (e.detail.empty()) e.detail = failure(down.error);
    emit(std::move(e));
  }
};

forward_server::forward_server(forward_options options) {
  if (options.listen.proto() == net::transport::udp && !options.listen.is_unix()) {
    if (options.socks5) throw std::invalid_argument("--socks5 serves TCP (no UDP ASSOCIATE)");
    udp_ = std::make_unique<udp_forward>(options);
    return;
  }
  impl_ = std::make_unique<impl>(std::move(options));
  impl_->server.listen(impl_->opt.listen);
  const auto bound = impl_->server.local_endpoint();
  if (!bound.is_unix()) {
    impl_->listen_port = bound.port();
    impl_->listen_host = bound.host();
  }
}

forward_server::~forward_server() {
  if (impl_) stop();
}

net::endpoint forward_server::local_endpoint() const {
  return udp_ ? udp_->local_endpoint() : impl_->server.local_endpoint();
}

void forward_server::on_event(std::function<void(const forward_event&)> callback) {
  if (udp_) return udp_->on_event(std::move(callback));
  impl_->callback = std::move(callback);
}

void forward_server::start() { udp_ ? udp_->start() : impl_->server.start(impl_->hooks()); }

void forward_server::stop() { udp_ ? udp_->stop() : impl_->server.stop(); }

void forward_server::wait() { udp_ ? udp_->wait() : impl_->server.wait(); }

forward_stats forward_server::stats() const {
  if (udp_) return udp_->stats();
  auto& i = *impl_;
  constexpr auto r = std::memory_order_relaxed;
  return forward_stats{i.conns.accepted(), i.rejected.load(r), i.target_failed.load(r),
                       i.conns.active(),   i.bytes_up.load(r), i.bytes_down.load(r)};
}

}  // namespace sockit::service
