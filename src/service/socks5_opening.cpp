// socks5_opening: one read loop for every message (codec::socks5 says how many bytes are
// still missing, and the reader asks for exactly those), raced against a deadline so a
// client that sends half a greeting and waits holds its place for `timeout` at most.
#include "socks5_opening.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "sockit/session/address_limits.hpp"
#include "sockit/session/deadline.hpp"

namespace sockit::service {
namespace {

namespace socks5 = codec::socks5;
constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);

// One message into `buf` (cleared first); false on a close, an error or an invalid message
// (`why` says which; `code` is the reply an invalid request deserves).
template <class Parse>
asio::awaitable<bool> read_message(session::stream_socket& s, std::vector<std::uint8_t>& buf,
                                   std::string& why, socks5::parse_result& last, Parse parse) {
  buf.clear();
  for (;;) {
    last = parse(socks5::bytes(buf));
    if (last.state == socks5::status::complete) co_return true;
    if (last.state == socks5::status::invalid) {
      why = last.why;
      co_return false;
    }
    const std::size_t had = buf.size();
    buf.resize(last.size);
    auto [ec, n] =
        co_await asio::async_read(s, asio::buffer(buf.data() + had, last.size - had), token);
    if (ec) {
      why = ec == asio::error::eof ? "closed during the SOCKS5 handshake" : ec.message();
      co_return false;
    }
    buf.resize(had + n);
  }
}

// By value, and every caller names what it sends before the co_await: GCC 12 destroys
// temporaries in a co_await's full-expression twice (its coroutine bugs 100611, 101367).
asio::awaitable<bool> send(session::stream_socket& s, std::vector<std::uint8_t> b) {
  auto [ec, n] = co_await asio::async_write(s, asio::buffer(b), token);
  co_return !ec;
}

bool user_matches(const std::vector<forward_user>& users, const socks5::credentials& c,
                  std::string& who) {
  bool found = false;
  for (const auto& u : users) {  // every entry compared, so timing says nothing of which
    const bool match = tokens_equal(u.name, c.user) & tokens_equal(u.password, c.password);
    if (match && !found) who = u.name;
    found = found || match;
  }
  return found;
}

asio::awaitable<socks5_request> opening(session::stream_socket& s,
                                        const std::vector<forward_user>& users,
                                        auth_failures& failures) {
  socks5_request out;
  std::vector<std::uint8_t> buf;
  socks5::parse_result last;
  socks5::greeting hello;
  if (!co_await read_message(s, buf, out.refusal, last,
                             [&](socks5::bytes b) { return socks5::parse_greeting(b, hello); }))
    co_return out;
  const auto wanted = users.empty() ? socks5::method::none : socks5::method::user_password;
  if (!hello.offers(wanted)) {
    auto none = socks5::encode_method_choice(socks5::method::no_acceptable);
    co_await send(s, std::move(none));
    out.refusal = users.empty() ? "offered no method without authentication"
                                : "did not offer user/password authentication";
    co_return out;
  }
  auto choice = socks5::encode_method_choice(wanted);
  if (!co_await send(s, std::move(choice))) co_return out;
  if (!users.empty()) {
    socks5::credentials c;
    if (!co_await read_message(s, buf, out.refusal, last,
                               [&](socks5::bytes b) { return socks5::parse_credentials(b, c); }))
      co_return out;
    if (!user_matches(users, c, out.user)) {
      // The same delay as a wrong token (access_token.hpp): a script retrying does not spin.
      // Counted per address (a /64 for IPv6), not per connection: each new connection
      // from the same place must not start again at the first, shortest delay.
      std::error_code ec;
      const auto ep = s.remote_endpoint(ec);
      const std::string peer =
          ec ? std::string() : session::address_key(ep.data(), static_cast<socklen_t>(ep.size()));
      asio::steady_timer wait(s.get_executor(), auth_failures::delay(failures.record(peer)));
      co_await wait.async_wait(token);
      auto refused = socks5::encode_auth_status(false);
      co_await send(s, std::move(refused));
      out.refusal = "wrong user or password";
      co_return out;
    }
    auto accepted = socks5::encode_auth_status(true);
    if (!co_await send(s, std::move(accepted))) co_return out;
  }
  socks5::request req;
  if (!co_await read_message(s, buf, out.refusal, last,
                             [&](socks5::bytes b) { return socks5::parse_request(b, req); })) {
    if (last.state == socks5::status::invalid) {
      auto reply = socks5::encode_reply(last.code, socks5::address{});
      co_await send(s, std::move(reply));
    }
    co_return out;
  }
  if (req.cmd != static_cast<std::uint8_t>(socks5::command::connect)) {
    auto reply = socks5::encode_reply(socks5::reply::command_not_supported, socks5::address{});
    co_await send(s, std::move(reply));
    out.refusal = req.cmd == 2   ? "asked for BIND (only CONNECT is served)"
                  : req.cmd == 3 ? "asked for UDP ASSOCIATE (only CONNECT is served)"
                                 : "asked for an unknown command";
    co_return out;
  }
  out.ok = true;
  out.dst = std::move(req.dst);
  co_return out;
}

}  // namespace

asio::awaitable<socks5_request> socks5_opening(session::stream_socket& client,
                                               const std::vector<forward_user>& users,
                                               std::chrono::milliseconds timeout,
                                               auth_failures& failures) {
  using namespace asio::experimental::awaitable_operators;
  session::deadline d;
  d.expires_after(timeout);
  auto v = co_await (opening(client, users, failures) || session::watch_deadline(d));
  if (v.index() == 1) {
    socks5_request out;
    out.refusal = "no SOCKS5 request within the handshake timeout";
    co_return out;
  }
  co_return std::get<0>(std::move(v));
}

asio::awaitable<std::error_code> socks5_reply(session::stream_socket& client,
                                              codec::socks5::reply code,
                                              codec::socks5::address bound) {
  const auto b = socks5::encode_reply(code, bound);
  auto [ec, n] = co_await asio::async_write(client, asio::buffer(b), token);
  co_return ec;
}

codec::socks5::reply socks5_reply_for(const std::error_code& ec) {
  // Asio's socket errors are in its own category ("asio.system"), which does not map to
  // std::errc: compare with its names. The timeout is ours (std::errc).
  using R = socks5::reply;
  if (ec == asio::error::connection_refused) return R::connection_refused;
  if (ec == asio::error::network_unreachable) return R::network_unreachable;
  if (ec == asio::error::host_unreachable || ec == std::errc::timed_out) return R::host_unreachable;
  if (ec == asio::error::access_denied) return R::not_allowed;
  return R::general_failure;
}

}  // namespace sockit::service
