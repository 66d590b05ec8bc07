// forward_udp: one loop, readiness-driven (async_wait for "readable", then non-blocking
// receives into one shared buffer until the socket is empty), so a thousand flows cost a
// thousand sockets and no buffers of their own. A datagram the kernel cannot take at once
// (a full send buffer) is dropped, as a router would: UDP promises no more, and waiting
// would let one slow target hold up every other flow.
#include "forward_udp.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <asio/generic/datagram_protocol.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <string>
#include <unordered_map>
#include <vector>

#include "sockit/net/resolver.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/session/io_pool.hpp"

namespace sockit::service {
namespace {

using protocol = asio::generic::datagram_protocol;
using datagram_socket = protocol::socket;
using clock = std::chrono::steady_clock;

// A client address as a map key: its sockaddr bytes.
std::string key_of(const net::socket_address& a) {
  return std::string(reinterpret_cast<const char*>(a.data()), a.size());
}

}  // namespace

struct udp_forward::impl : std::enable_shared_from_this<impl> {
  struct flow {
    datagram_socket sock;
    net::socket_address client;
    std::string peer, host;  // udp://client, and its host for the per-address cap
    clock::time_point began, last;
    std::uint64_t up = 0, down = 0;
    explicit flow(asio::io_context& io) : sock(io) {}
  };

  forward_options opt;
  session::io_pool pool{1};
  asio::io_context& io = pool.context(0);
  datagram_socket listener{io};
  net::socket_address target;
  std::string target_name;
  std::unordered_map<std::string, std::shared_ptr<flow>> flows;
  std::unordered_map<std::string, std::size_t> per_host;
  asio::steady_timer sweeper{io};
  std::function<void(const forward_event&)> callback;
  std::vector<char> buf = std::vector<char>(65536);
  std::atomic<std::uint64_t> accepted{0}, rejected{0}, target_failed{0}, active{0}, bytes_up{0},
      bytes_down{0};
  bool stopping = false;

  explicit impl(const forward_options& o) : opt(o) {
    if (opt.target.proto() != net::transport::udp || opt.target.is_unix())
      throw std::invalid_argument("a UDP LISTEN forwards to a UDP TARGET (udp://HOST:PORT)");
    std::error_code ec;
    std::string why;
    auto targets = net::resolve(opt.target, net::resolve_mode::connect, ec, &why);
    if (ec) throw std::system_error(ec, why);
    target = targets.front();  // a flow is one socket connected to one address
    target_name = target.to_string(net::transport::udp);
    net::socket s = net::socket::bind_datagram(opt.listen, ec, &why);
    if (ec) throw std::system_error(ec, why);
    const int family = s.local_address().family();
    listener.assign(protocol(family, 0), s.release());
    listener.non_blocking(true);
  }

  void emit(forward_event e) {
    if (callback) callback(e);
  }

  forward_event event(forward_event::type what, const std::string& peer) {
    forward_event e;
    e.what = what;
    e.peer = peer;
    e.target = target_name;
    return e;
  }

  net::endpoint local_endpoint() const {
    std::error_code ec;
    auto ep = listener.local_endpoint(ec);
    return net::socket_address(ep.data(), static_cast<socklen_t>(ep.size()))
        .to_endpoint(net::transport::udp);
  }

  void close_flow(const std::shared_ptr<flow>& f, const std::string& why) {
    auto it = flows.find(key_of(f->client));
    if (it == flows.end() || it->second != f) return;
    flows.erase(it);
    if (auto h = per_host.find(f->host); h != per_host.end() && --h->second == 0) per_host.erase(h);
    std::error_code ignored;
    f->sock.close(ignored);
    active.fetch_sub(1, std::memory_order_relaxed);
    bytes_up.fetch_add(f->up, std::memory_order_relaxed);
    bytes_down.fetch_add(f->down, std::memory_order_relaxed);
    auto e = event(forward_event::type::closed, f->peer);
    e.bytes_up = f->up;
    e.bytes_down = f->down;
    e.seconds = std::chrono::duration<double>(clock::now() - f->began).count();
    e.detail = why;
    emit(std::move(e));
  }

  // A new client: its own socket, connected to the target. Nullptr when over a cap (or the
  // socket cannot be made), reported as rejected.
  std::shared_ptr<flow> open_flow(const net::socket_address& from) {
    const std::string peer = from.to_string(net::transport::udp);
    const std::string host = from.host();
    const char* refusal = nullptr;
    if (opt.max_conns != 0 && flows.size() >= opt.max_conns) refusal = "over --max-conns";
    if (!refusal && opt.max_conns_per_ip != 0 && per_host[host] >= opt.max_conns_per_ip)
      refusal = "over --max-conns-per-ip";
    auto f = std::make_shared<flow>(io);
    std::error_code ec;
    if (!refusal) {
      f->sock.open(protocol(target.family(), 0), ec);
      if (!ec) f->sock.connect(protocol::endpoint(target.data(), target.size()), ec);
      if (!ec) f->sock.non_blocking(true, ec);
      if (ec) refusal = "out of sockets";
    }
    if (refusal) {
      if (per_host[host] == 0) per_host.erase(host);
      rejected.fetch_add(1, std::memory_order_relaxed);
      auto e = event(forward_event::type::rejected, peer);
      e.detail = refusal;
      emit(std::move(e));
      return nullptr;
    }
    f->client = from;
    f->peer = peer;
    f->host = host;
    f->began = f->last = clock::now();
    ++per_host[host];
    flows.emplace(key_of(from), f);
    accepted.fetch_add(1, std::memory_order_relaxed);
    active.fetch_add(1, std::memory_order_relaxed);
    emit(event(forward_event::type::connected, peer));
    wait_reply(f);
    return f;
  }

  // Client -> target: every datagram waiting on the listener, then wait again.
  void wait_listener() {
    listener.async_wait(protocol::socket::wait_read,
                        [self = shared_from_this()](std::error_code ec) {
                          if (ec || self->stopping) return;
                          self->drain_listener();
                          self->wait_listener();
                        });
  }

  void drain_listener() {
    for (int i = 0; i < 64; ++i) {  // then let the flows' replies have a turn
      net::socket_address from;
      socklen_t len = net::socket_address::capacity();
      const ssize_t n = ::recvfrom(listener.native_handle(), buf.data(), buf.size(), MSG_DONTWAIT,
                                   from.data(), &len);
      if (n < 0) return;  // EAGAIN: empty; anything else: the next wait reports it
      from.resize(len);
      auto it = flows.find(key_of(from));
      std::shared_ptr<flow> f = it != flows.end() ? it->second : open_flow(from);
      if (!f) continue;
      f->last = clock::now();
      if (opt.on_bytes)
        opt.on_bytes(f->peer, true, f->up,
                     std::as_bytes(std::span(buf.data(), static_cast<std::size_t>(n))));
      if (::send(f->sock.native_handle(), buf.data(), static_cast<std::size_t>(n),
                 MSG_DONTWAIT | MSG_NOSIGNAL) == n)
        f->up += static_cast<std::uint64_t>(n);
    }
  }

  // Target -> client, on the flow's socket; its errors end the flow (the target's port
  // unreachable comes back as ECONNREFUSED on a connected UDP socket).
  void wait_reply(const std::shared_ptr<flow>& f) {
    f->sock.async_wait(protocol::socket::wait_read,
                       [self = shared_from_this(), f](std::error_code ec) {
                         if (ec || self->stopping || !f->sock.is_open()) return;
                         if (self->drain_replies(f)) self->wait_reply(f);
                       });
  }

  bool drain_replies(const std::shared_ptr<flow>& f) {
    for (int i = 0; i < 64; ++i) {
      const ssize_t n = ::recv(f->sock.native_handle(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
      if (n < 0) {
        const std::string why = std::error_code(errno, std::system_category()).message();
        target_failed.fetch_add(1, std::memory_order_relaxed);
        auto e = event(forward_event::type::target_failed, f->peer);
        e.detail = why;
        emit(std::move(e));
        close_flow(f, why);
        return false;
      }
      f->last = clock::now();
      if (opt.on_bytes)
        opt.on_bytes(f->peer, false, f->down,
                     std::as_bytes(std::span(buf.data(), static_cast<std::size_t>(n))));
      if (::sendto(listener.native_handle(), buf.data(), static_cast<std::size_t>(n),
                   MSG_DONTWAIT | MSG_NOSIGNAL, f->client.data(), f->client.size()) == n)
        f->down += static_cast<std::uint64_t>(n);
    }
    return true;
  }

  // Every quarter of the idle timeout: flows quiet for the whole of it end.
  void sweep() {
    const auto period = std::max<clock::duration>(opt.udp_idle / 4, std::chrono::milliseconds(5));
    sweeper.expires_after(period);
    sweeper.async_wait([self = shared_from_this()](std::error_code ec) {
      if (ec || self->stopping) return;
      const auto now = clock::now();
      std::vector<std::shared_ptr<flow>> idle;
      for (auto& [k, f] : self->flows)
        if (now - f->last >= self->opt.udp_idle) idle.push_back(f);
      for (auto& f : idle) self->close_flow(f, "idle");
      self->sweep();
    });
  }

  void stop_on_loop() {
    if (stopping) return;
    stopping = true;
    std::error_code ignored;
    listener.close(ignored);
    sweeper.cancel();
    std::vector<std::shared_ptr<flow>> all;
    for (auto& [k, f] : flows) all.push_back(f);
    for (auto& f : all) close_flow(f, "stopped");
  }
};

udp_forward::udp_forward(const forward_options& options) : impl_(std::make_shared<impl>(options)) {}

udp_forward::~udp_forward() {
  stop();
  wait();
}

net::endpoint udp_forward::local_endpoint() const { return impl_->local_endpoint(); }

void udp_forward::on_event(std::function<void(const forward_event&)> callback) {
  impl_->callback = std::move(callback);
}

void udp_forward::start() {
  asio::post(impl_->io, [self = impl_] {
    self->wait_listener();
    self->sweep();
  });
  impl_->pool.start();
}

void udp_forward::stop() {
  asio::post(impl_->io, [self = impl_] { self->stop_on_loop(); });
  impl_->pool.release();
}

void udp_forward::wait() { impl_->pool.join(); }

forward_stats udp_forward::stats() const {
  auto& i = *impl_;
  constexpr auto r = std::memory_order_relaxed;
  return forward_stats{i.accepted.load(r), i.rejected.load(r), i.target_failed.load(r),
                       i.active.load(r),   i.bytes_up.load(r), i.bytes_down.load(r)};
}

}  // namespace sockit::service
