// stream_server: accept loop on loop 0, connections spread round-robin over the pool, one
// registry of live sockets per loop (touched only on that loop's thread, so no locks).
#include "sockit/session/stream_server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <condition_variable>
#include <exception>
#include <future>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "sockit/net/socket.hpp"
#include "sockit/net/socket_address.hpp"
#include "sockit/net/unique_fd.hpp"

namespace sockit::session {
namespace {

using acceptor_type = asio::basic_socket_acceptor<asio::generic::stream_protocol>;
constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);

bool out_of_descriptors(const std::error_code& ec) {
  return ec == asio::error::no_descriptors || ec == std::errc::too_many_files_open_in_system ||
         ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
}

}  // namespace

std::string peer_name(const stream_socket& s) {
  std::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown";
  return net::socket_address(ep.data(), static_cast<socklen_t>(ep.size())).to_string();
}

struct stream_server::impl {
  io_pool pool;
  hooks on;
  net::endpoint bound;
  int family = AF_UNSPEC;
  std::string unix_path;                    // removed by stop() when we created it
  std::unique_ptr<acceptor_type> acceptor;  // lives on loop 0
  net::unique_fd spare_fd;                  // kept open to accept-and-close when out of descriptors
  std::unique_ptr<address_counter> per_address;  // set by start(), from hooks.max_per_address

  struct loop_state {
    std::unordered_set<stream_socket*> sockets;
    bool stopping = false;
  };
  std::vector<loop_state> loops;
  std::atomic<unsigned> next_loop{0};
  std::atomic<std::uint64_t> shed{0}, exceptions{0};

  std::mutex mu;
  std::condition_variable cv;
  bool started = false, stopping = false, stopped = false;

  explicit impl(unsigned threads) : pool(threads), loops(pool.size()) {}

  // Out of file descriptors: accept the waiting connection with the spare descriptor and
  // close it at once, so the listener is not left readable forever (which would spin).
  bool shed_one_connection() {
    if (!spare_fd) return false;
    spare_fd.reset();
    int fd = ::accept4(acceptor->native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) ::close(fd);
    spare_fd.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    return fd >= 0;
  }

  asio::awaitable<void> accept_loop() {
    asio::steady_timer backoff(pool.context(0));
    for (;;) {
      unsigned index = next_loop.fetch_add(1, std::memory_order_relaxed) % pool.size();
      auto [ec, sock] = co_await acceptor->async_accept(pool.context(index), token);
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      if (out_of_descriptors(ec)) {
        if (shed_one_connection()) {
          shed.fetch_add(1, std::memory_order_relaxed);
          if (on.refused) on.refused(nullptr, refusal::out_of_descriptors);
        } else {
          // Could not even shed: wait a little rather than spin on a readable listener.
          backoff.expires_after(std::chrono::milliseconds(50));
          co_await backoff.async_wait(token);
        }
        continue;
      }
      if (ec) continue;  // ECONNABORTED and friends: that client is gone, serve the next
      // The address cap comes before admit(), which counts what it admits: a refused client
      // never takes one of the service's slots. The slot lives as long as the connection.
      address_slot slot;
      if (on.max_per_address != 0 && family != AF_UNIX && !claim(sock, slot)) {
        if (on.refused) on.refused(&sock, refusal::per_address);
        std::error_code ignored;
        sock.close(ignored);
        continue;
      }
      if (on.admit && !on.admit()) {
        if (on.refused) on.refused(&sock, refusal::full);
        std::error_code ignored;
        sock.close(ignored);
        continue;
      }
      std::error_code ignored;
      if (family != AF_UNIX) sock.set_option(asio::ip::tcp::no_delay(true), ignored);
      if (on.adopt) {
        if (index == 0) {
          adopt(std::move(sock), 0, std::move(slot));  // already on loop 0: keep accept order
        } else {
          asio::post(pool.context(index),
                     [this, s = std::move(sock), index, sl = std::move(slot)]() mutable {
                       adopt(std::move(s), index, std::move(sl));
                     });
        }
      } else {
        asio::co_spawn(pool.context(index), run_tracked(std::move(sock), index, std::move(slot)),
                       [this](std::exception_ptr e) {
                         if (e) exceptions.fetch_add(1, std::memory_order_relaxed);
                       });
      }
    }
  }

  // A peer whose address cannot be read is already gone: it is let through uncounted and
  // fails at its first read.
  bool claim(const stream_socket& sock, address_slot& slot) {
    std::error_code ec;
    auto ep = sock.remote_endpoint(ec);
    if (ec) return true;
    return per_address->try_claim(address_key(ep.data(), static_cast<socklen_t>(ep.size())), slot);
  }

  void adopt(stream_socket sock, unsigned index, address_slot slot) {
    if (loops[index].stopping) return;  // its destructor closes it
    try {
      on.adopt(std::move(sock), index, std::move(slot));
    } catch (...) {
      exceptions.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // `slot` is released when this frame ends, after the socket is closed.
  asio::awaitable<void> run_tracked(stream_socket sock, unsigned index,
                                    [[maybe_unused]] address_slot slot) {
    loop_state& state = loops[index];
    std::error_code ignored;
    if (state.stopping) sock.close(ignored);  // serve() still runs: it fails fast and uncounts
    state.sockets.insert(&sock);
    try {
      co_await on.serve(sock, index);
    } catch (...) {
      // A bug or resource exhaustion on one connection must not take the server down.
      exceptions.fetch_add(1, std::memory_order_relaxed);
    }
    state.sockets.erase(&sock);
    sock.shutdown(asio::socket_base::shutdown_both, ignored);
    sock.close(ignored);
  }
};

stream_server::stream_server(unsigned threads) : impl_(std::make_unique<impl>(threads)) {}

stream_server::~stream_server() { stop(); }

void stream_server::listen(const net::endpoint& where) {
  auto& i = *impl_;
  std::error_code ec;
  std::string why;
  net::socket listener = net::socket::listen(where, ec, &why);
  if (ec) throw std::system_error(ec, why);
  auto local = listener.local_address();
  i.family = local.family();
  i.bound = where.is_unix() ? where : local.to_endpoint(net::transport::tcp);
  if (where.type() == net::endpoint::kind::unix_path) i.unix_path = where.path();
  i.acceptor = std::make_unique<acceptor_type>(i.pool.context(0));
  i.acceptor->assign(
      asio::generic::stream_protocol(i.family, i.family == AF_UNIX ? 0 : IPPROTO_TCP),
      listener.release());
  if (!i.spare_fd) i.spare_fd.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

const net::endpoint& stream_server::local_endpoint() const noexcept { return impl_->bound; }
int stream_server::family() const noexcept { return impl_->family; }
io_pool& stream_server::pool() noexcept { return impl_->pool; }

void stream_server::start(hooks h) {
  auto& i = *impl_;
  {
    std::lock_guard lock(i.mu);
    if (i.started || i.stopping) return;
    i.started = true;
  }
  i.on = std::move(h);
  i.per_address = std::make_unique<address_counter>(i.on.max_per_address);
  if (i.acceptor) {
    asio::co_spawn(i.pool.context(0), i.accept_loop(), [self = &i](std::exception_ptr e) {
      if (e) self->exceptions.fetch_add(1, std::memory_order_relaxed);
    });
  }
  i.pool.start();
}

void stream_server::stop() {
  impl* self = impl_.get();
  {
    std::unique_lock lock(self->mu);
    if (self->stopped) return;
    if (self->stopping) {
      self->cv.wait(lock, [&] { return self->stopped; });
      return;
    }
    self->stopping = true;
  }
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
      if (self->on.on_stop) self->on.on_stop(i);
      std::error_code ignored;
      for (stream_socket* s : state.sockets) s->close(ignored);
    });
  }
  self->pool.release();
  if (self->started) self->pool.join();
  if (!self->unix_path.empty()) ::unlink(self->unix_path.c_str());
  {
    std::lock_guard lock(self->mu);
    self->stopped = true;
  }
  self->cv.notify_all();
}

void stream_server::wait() {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->stopped; });
}

std::size_t stream_server::live_from(const std::string& key) const {
  return impl_->per_address ? impl_->per_address->live(key) : 0;
}

std::uint64_t stream_server::shed() const noexcept {
  return impl_->shed.load(std::memory_order_relaxed);
}

std::uint64_t stream_server::exceptions() const noexcept {
  return impl_->exceptions.load(std::memory_order_relaxed);
}

}  // namespace sockit::session
