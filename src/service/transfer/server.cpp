// The transfer server's lifecycle (see server_state.hpp for the other files): opening DIR
// and the listener, stream_server's hooks, one coroutine per connection (reader and writer
// in one, since replies follow requests in order) raced against a deadline watchdog, the
// native session's hello and dispatch loop, the partials' sweeper, and transfer_server's
// public API over it all.
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>

#include "server_state.hpp"
#include "sockit/net/error.hpp"
#include "sockit/service/access_token.hpp"
#include "sockit/version.hpp"
#include "wire_error.hpp"

namespace sockit::service {
namespace transfer {
std::string str_field(const json& h, const char* key) {
  auto it = h.find(key);
  return it != h.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool bool_field(const json& h, const char* key) {
  auto it = h.find(key);
  return it != h.end() && it->is_boolean() && it->get<bool>();
}

json id_field(const json& h) {
  if (!h.is_object()) return nullptr;
  auto it = h.find("id");
  return it != h.end() && !it->is_structured() ? *it : json(nullptr);
}

json error_frame(const json& id, const std::error_code& ec, std::string message) {
  if (message.empty()) message = ec.message();
  return json{
      {"op", "error"}, {"id", id}, {"code", std::string(wire_code(ec))}, {"message", message}};
}

namespace {

// Protected mode's test: a Unix-socket peer, or one from 127.0.0.0/8 or ::1 (also as
// ::ffff:127.x.y.z).
bool is_local_peer(stream_socket& sock) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(sock.native_handle(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return false;
  if (ss.ss_family == AF_UNIX) return true;
  if (ss.ss_family == AF_INET) {
    auto a = ntohl(reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr.s_addr);
    return (a >> 24) == 127;
  }
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
  }
  return false;
}

// --allow/--deny on the peer's address as the kernel reports it.
bool admitted_by(const net::address_filter& f, stream_socket& sock) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(sock.native_handle(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return false;
  return f.admits(reinterpret_cast<const sockaddr*>(&ss), len);
}

// "tcp://1.2.3.4:5" -> "tcp://1.2.3.4": failed tokens are counted per address, not port.
std::string address_of(const std::string& peer) {
  auto colon = peer.rfind(':');
  return peer.rfind("tcp://", 0) == 0 && colon > 6 ? peer.substr(0, colon) : peer;
}

}  // namespace

std::string join(std::span<const std::string> parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

server_state::server_state(transfer_server_options o)
    : opt(std::move(o)),
      server(opt.threads),
      budget(opt.max_disk),
      peer_umask(current_umask()),
      conns(opt.max_conns) {
  if (!opt.tls.cert_pem.empty())
    tls = session::make_tls_server_context(opt.tls.cert_pem, opt.tls.key_pem);
}

std::size_t server_state::batch_cap() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 2048;
  return std::clamp<std::size_t>(static_cast<std::size_t>(rl.rlim_cur) / 8, 1, 2048);
}

codec::limits server_state::limits() const {
  codec::limits lim;
  lim.max_header = opt.max_header;
  lim.max_body = opt.max_file_size;  // file bodies; other ops never buffer a body
  return lim;
}

void server_state::open_listener() {
  std::error_code ec;
  root = open_root_dir(opt.root, ec);
  if (ec) throw std::system_error(ec, "cannot open directory " + opt.root);
  server.listen(opt.endpoint);
}

session::stream_server::hooks server_state::hooks() {
  session::stream_server::hooks h;
  h.serve = [this](stream_socket& s, unsigned) { return connection(s); };
  h.admit = [this] { return conns.try_admit(); };
  h.max_per_address = opt.max_conns_per_ip;
  h.on_stop = [this](unsigned) { stopping.store(true, std::memory_order_relaxed); };
  h.refused = [this](stream_socket* sock, session::refusal why) {
    rejected.fetch_add(1, std::memory_order_relaxed);
    if (!sock) {
      emit(transfer_event::type::rejected, "unknown", {}, 0, "out of file descriptors");
      return;
    }
    // Best effort, never blocking the accept loop: say why; the server then closes it.
    bool mine = why == session::refusal::per_address;
    std::string f = codec::encode(error_frame(
        nullptr, errc::too_many_connections,
        mine ? "too many connections from your address" : "server is at its connection limit"));
    ::send(sock->native_handle(), f.data(), f.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    emit(transfer_event::type::rejected, session::peer_name(*sock), {}, 0,
         mine ? "too_many_connections: per address" : "too_many_connections");
  };
  return h;
}

asio::awaitable<void> server_state::connection(stream_socket& sock) {
  using namespace asio::experimental::awaitable_operators;
  std::string peer = session::peer_name(sock);
  std::string detail;
  emit(transfer_event::type::accepted, peer);
  // Refused before anything is read (best effort, never blocking): `told` says why, then
  // the connection is closed.
  auto turn_away = [&](std::string_view told, const char* why) {
    ::send(sock.native_handle(), told.data(), told.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    std::error_code ignored;
    sock.shutdown(asio::socket_base::shutdown_both, ignored);
    sock.close(ignored);
    conns.release();
    rejected.fetch_add(1, std::memory_order_relaxed);
    emit(transfer_event::type::rejected, peer, {}, 0, why);
  };
  auto refusal_frame = [](const char* message) {
    return codec::encode(
        json{{"op", "error"}, {"id", nullptr}, {"code", "auth_failed"}, {"message", message}});
  };
  if (opt.local_only && !is_local_peer(sock)) {  // protected mode, and how to allow others
    turn_away(refusal_frame("this server has neither TLS nor a token, so it serves only its "
                            "own machine; start it with TLS (no --plain), with --token-file, "
                            "or with --public"),
              "auth_failed: not a local peer");
    co_return;
  }
  if (!opt.peers.empty() && !admitted_by(opt.peers, sock)) {
    // --allow/--deny: before TLS, so a refused address costs no handshake. A TLS client is
    // told with the alert a TLS server may send before the handshake (in the clear, RFC 8446
    // 6: fatal access_denied), so that it reports "alert access denied"; a plaintext one with
    // a frame.
    static constexpr char access_denied[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 49};
    turn_away(tls ? std::string(access_denied, sizeof access_denied)
                  : refusal_frame("your address is not allowed by this server"),
              "auth_failed: address not allowed");
    co_return;
  }
  session::deadline d;
  stream_type stream(sock, tls.get());
  // Verified uploads whose fsync and rename are still to come. Owned here, outside the
  // race with the deadline, so that whatever ends serve() (a timeout, an error, a reset
  // peer, stop()) they are still stored below; only their replies are lost then.
  // Directories the connection created (for its mkdir); declared first, so it outlives the
  // uploads in `pending`, which drop what they remove from it.
  made_dirs made;
  commit_batch pending(batched, max_batched);
  std::string failure;
  try {
    auto v = co_await (serve_guarded(stream, d, peer, pending, made, failure) ||
                       session::watch_deadline(d));
    if (!failure.empty()) {
      detail = "internal error: " + failure;
    } else if (v.index() == 0) {
      auto ec = std::get<0>(v);
      if (ec && ec.category() == asio::error::get_ssl_category())
        detail = "tls: " + ec.message();
      else if (ec && ec != asio::error::eof && ec != asio::error::operation_aborted)
        detail = std::string(wire_code(ec)) + ": " + ec.message();
    } else {
      detail = "timed_out: deadline passed";
    }
    co_await commit(pending, nullptr, peer);
  } catch (const std::exception& e) {
    // A bug or resource exhaustion on one connection must not take the server down.
    detail = std::string("internal error: ") + e.what();
  }
  std::error_code ignored;  // closed before "closed" is reported
  sock.shutdown(asio::socket_base::shutdown_both, ignored);
  sock.close(ignored);
  conns.release();
  emit(transfer_event::type::closed, peer, {}, 0, detail);
}

// serve() for the race with the watchdog. It never throws: `||` waits for a branch that
// succeeds, so a throwing serve() would leave the connection to a watchdog that, with no
// deadline set, never fires (and stop() would wait for it forever).
asio::awaitable<std::error_code> server_state::serve_guarded(stream_type& s, session::deadline& d,
                                                             const std::string& peer,
                                                             commit_batch& pending, made_dirs& made,
                                                             std::string& failure) {
  try {
    co_return co_await serve(s, d, peer, pending, made);
  } catch (const std::system_error& e) {
    if (e.code() == asio::error::operation_aborted) co_return e.code();  // the deadline won
    failure = e.what();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  co_return make_error_code(std::errc::operation_canceled);
}

asio::awaitable<std::error_code> server_state::serve(stream_type& s, session::deadline& d,
                                                     const std::string& peer, commit_batch& batch,
                                                     made_dirs& made) {
  if (s.is_tls()) {
    d.expires_after(opt.header_timeout);  // a client that stalls mid-handshake is dropped
    bool plaintext = false;               // then told in the framing it may understand
    static const std::string told = codec::encode(error_frame(
        nullptr, errc::protocol_error,
        "this server speaks TLS: connect without --plain (sockit put/get/ls do by default)"));
    auto ec = co_await session::accept_tls(s, told, plaintext);
    d.clear();
    if (plaintext) {
      emit(transfer_event::type::failed, peer, {}, 0, "tls: a plaintext client");
      co_return errc::protocol_error;
    }
    if (ec) co_return ec;
  }
  session::frame_timeouts t{opt.header_timeout, opt.body_timeout};
  reader_type r(s, limits(), &d, t);
  writer_type w(s, &d, opt.body_timeout);
  codec::format fmt{};
  if (auto ec = co_await r.read_opening(fmt)) {
    if (ec == errc::bad_magic) co_await w.write(error_frame(nullptr, ec));
    co_return ec;
  }
  if (fmt == codec::format::classic) {
    if (!opt.token.empty()) {  // it has no hello to carry one
      emit(transfer_event::type::failed, peer, {}, 0,
           "auth_failed: the classic format cannot carry a token");
      co_return errc::protocol_error;
    }
    if (opt.read_only) {  // the classic format is one upload: nothing to serve read-only
      emit(transfer_event::type::failed, peer, {}, 0,
           "forbidden: a classic upload to a read-only server");
      co_return errc::protocol_error;
    }
    co_return co_await classic_session(r, peer);
  }
  co_return co_await native_session(r, w, peer, batch, made);
}

// hello (version, no auth), then requests in order until the peer ends or the stream breaks.
asio::awaitable<std::error_code> server_state::native_session(reader_type& r, writer_type& w,
                                                              const std::string& peer,
                                                              commit_batch& batch,
                                                              made_dirs& made) {
  codec::frame_header h;
  if (auto ec = co_await r.read_header(h)) co_return co_await refuse(r, w, ec);
  json id = id_field(h.fields);
  if (h.op() != "hello") {
    co_await w.write(error_frame(id, errc::protocol_error, "the first frame must be hello"));
    co_return errc::protocol_error;
  }
  bool common = num_field<int>(h.fields, "version", 0) == codec::protocol_version;
  if (auto it = h.fields.find("versions"); it != h.fields.end() && it->is_array()) {
    for (auto& v : *it) common |= v.is_number_integer() && v.get<int>() == codec::protocol_version;
  }
  if (!common) {
    json e = error_frame(id, transfer_errc::unsupported_version, "this server speaks version 1");
    e["versions"] = {codec::protocol_version};
    co_await w.write(e);
    co_return transfer_errc::unsupported_version;
  }
  if (!opt.token.empty()) {
    if (!co_await check_token(w, id, h.fields, peer)) co_return errc::protocol_error;
  } else if (auto it = h.fields.find("auth"); it != h.fields.end() && !it->is_null()) {
    json e{{"op", "error"},
           {"id", id},
           {"code", "auth_failed"},
           {"message", "this server has no authentication configured"}};
    co_await w.write(e);
    co_return errc::protocol_error;
  }
  w.queue(json{{"op", "hello"},
               {"id", id},
               {"version", codec::protocol_version},
               {"server", software_name},
               {"max_header", opt.max_header},
               {"max_file_size", opt.max_file_size},
               {"overwrite", opt.allow_overwrite},
               {"auth", opt.token.empty() ? json(nullptr) : json("token")}});
  if (auto ec = co_await w.flush()) co_return ec;

  for (;;) {
    if (!r.has_buffered()) {
      co_await commit(batch, &w, peer);  // before waiting for more from the network
      if (auto ec = co_await w.flush()) co_return ec;
    }
    std::error_code ec = co_await r.read_header(h);
    if (ec) {
      co_await commit(batch, &w, peer);  // verified files are stored even if the rest fails
      if (ec == asio::error::eof) co_return co_await w.flush();
      co_return co_await refuse(r, w, ec);
    }
    id = id_field(h.fields);
    std::string_view op = h.op();
    if (op != "put") co_await commit(batch, &w, peer);  // replies stay in request order
    if (op == "put") {
      ec = co_await handle_put(r, w, h, id, peer, batch, made);
      if (ec) {
        co_await commit(batch, &w, peer);
        co_await w.flush();
        co_return ec;
      }
    } else if (auto refusal = access_refusal(op); !refusal.empty()) {
      w.queue(error_frame(id, transfer_errc::not_permitted, refusal));
    } else if (op == "stat") {
      co_await handle_stat(w, h, id);
    } else if (op == "get") {
      ec = co_await handle_get(w, h, id, peer);
      if (ec) co_return ec;
    } else if (op == "ls") {
      ec = co_await handle_ls(w, h, id, peer);
      if (ec) co_return ec;
    } else if (op == "mkdir") {
      handle_mkdir(w, h, id, made);
    } else {
      w.queue(error_frame(id, errc::protocol_error,
                          "unknown or unexpected op '" + std::string(op) + "'"));
    }
    // Every kind of reply counts: a peer pipelining stats, gets or bad requests and
    // reading nothing is held at max_unsent as one asking for listings is.
    if (auto rec = co_await relieve(w)) co_return rec;
  }
}

// The token in hello's {"auth": {"token": ...}}, compared in constant time. A refusal waits
// 250 ms for each failure from the same address so far (at most 5 s): guessing a 128-bit
// token is hopeless anyway, but a script retrying a wrong one should not spin.
asio::awaitable<bool> server_state::check_token(writer_type& w, const json& id, const json& hello,
                                                const std::string& peer) {
  std::string given;
  if (auto it = hello.find("auth"); it != hello.end() && it->is_object())
    given = str_field(*it, "token");
  if (!given.empty() && tokens_equal(given, opt.token)) co_return true;
  unsigned n = token_failures.record(address_of(peer));
  asio::steady_timer wait(co_await asio::this_coro::executor, auth_failures::delay(n));
  co_await wait.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  // A std::string: GCC 12 cannot keep a ternary of string literals in a coroutine frame.
  std::string why = "wrong token";
  if (given.empty())
    why =
        "this server requires a token: give it with SOCKIT_TOKEN or --token-file (never on "
        "the command line)";
  json refusal{{"op", "error"}, {"id", id}, {"code", "auth_failed"}, {"message", why}};
  co_await w.write(refusal);
  std::string detail =
      given.empty() ? std::string("auth_failed: no token") : "auth_failed: wrong token";
  emit(transfer_event::type::failed, peer, {}, 0,
       detail + " (" + std::to_string(n) + " from this address)");
  co_return false;
}

// A frame that breaks the stream (too long, malformed, too deep): say why, then close.
asio::awaitable<std::error_code> server_state::refuse(reader_type& r, writer_type& w,
                                                      std::error_code ec) {
  if (ec.category() == error_category() && ec != errc::protocol_error) {
    w.queue(error_frame(id_field(r.parser().header().fields), ec));
  }
  co_await w.flush();
  co_return ec;
}

// Expired partials: removed unless an upload holds them (its claim is on the same path).
// The first sweep (start(), before `listening` is printed) reports nothing: the readiness
// line stays the first line of output.
void server_state::sweep(bool report) {
  if (opt.partial_ttl.count() <= 0 || opt.discard) return;
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto cutoff = std::chrono::duration_cast<std::chrono::nanoseconds>(now - opt.partial_ttl);
  sweep_partials(
      root.get(), cutoff.count(), 10'000'000, &busy.mu,
      [this](const std::string& rel) { return busy.names.count(rel) == 0; },
      [this, report](const std::string& rel, std::uint64_t size, std::int64_t mtime_ns) {
        // Charged only if written during this server's lifetime.
        if (mtime_ns >= started_ns) budget.give_back(size);
        if (report) emit(transfer_event::type::expired, "sweep", rel, size);
      },
      &sweep_stop_flag);
}

// After the first sweep (in start()), one every partial_ttl/4, at most hourly, on a
// thread of its own: a walk of DIR is blocking file work that must not hold a loop.
void server_state::start_sweeper() {
  if (opt.partial_ttl.count() <= 0 || opt.discard || sweeper.joinable()) return;
  auto every = std::clamp<std::chrono::milliseconds>(
      opt.partial_ttl / 4, std::chrono::milliseconds(100), std::chrono::hours(1));
  sweeper = std::thread([this, every] {
    std::unique_lock lock(sweep_mu);
    while (!sweep_cv.wait_for(lock, every, [this] { return sweep_stopped; })) {
      lock.unlock();
      sweep();
      lock.lock();
    }
  });
}

void server_state::stop_sweeper() {
  {
    std::lock_guard lock(sweep_mu);
    sweep_stopped = true;
  }
  sweep_stop_flag.store(true, std::memory_order_relaxed);
  sweep_cv.notify_all();
  if (sweeper.joinable()) sweeper.join();
}

std::string server_state::access_refusal(std::string_view op) const {
  if (opt.read_only && op == "mkdir") return "this server is read-only";
  if (opt.upload_only && (op == "ls" || op == "stat" || op == "get"))
    return "this server is upload-only (a drop box): no listing, no downloads";
  return {};
}

}  // namespace transfer

// The public class's state is the shared one; the pimpl keeps Asio out of its header.
struct transfer_server::impl : transfer::server_state {
  using server_state::server_state;
};

transfer_server::transfer_server(transfer_server_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {
  impl_->open_listener();
}

transfer_server::~transfer_server() { stop(); }

net::endpoint transfer_server::local_endpoint() const { return impl_->server.local_endpoint(); }

const std::string& transfer_server::identity() const { return impl_->opt.tls.fingerprint; }

void transfer_server::on_event(std::function<void(const transfer_event&)> callback) {
  impl_->callback = std::move(callback);
}

void transfer_server::start() {
  impl_->sweep(false);  // before `listening`: what expired while the server was down is gone
  impl_->start_sweeper();
  impl_->server.start(impl_->hooks());
}

void transfer_server::stop() {
  impl_->server.stop();
  impl_->stop_sweeper();
}

transfer_stats transfer_server::stats() const {
  auto& i = *impl_;
  constexpr auto r = std::memory_order_relaxed;
  return transfer_stats{i.conns.accepted(), i.rejected.load(r), i.conns.active(),
                        i.stored.load(r),   i.sent.load(r),     i.failed.load(r),
                        i.bytes_in.load(r), i.bytes_out.load(r)};
}

}  // namespace sockit::service
