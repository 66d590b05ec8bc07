// The seeds' communication loop (recv, then send back, until recv returns empty) as a
// coroutine generic over any Asio AsyncStream: TCP, Unix, a TLS stream, or a test stream.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cstdint>
#include <span>
#include <system_error>

#include "sockit/session/deadline.hpp"

namespace sockit::session {

/// Upper-cases ASCII a-z only, exactly like Python's bytes.upper(): every other byte,
/// including each byte of a UTF-8 multi-byte sequence, passes unchanged.
inline void ascii_upper(std::span<char> data) noexcept {
  for (char& c : data) {
    // Branch-free so the compiler vectorises it.
    unsigned char u = static_cast<unsigned char>(c);
    c = static_cast<char>(u - ((static_cast<unsigned char>(u - 'a') < 26u) << 5));
  }
}

struct echo_result {
  std::uint64_t bytes = 0;  // bytes echoed back
  std::error_code error;    // empty when the peer closed cleanly (recv returned 0)
};

/// Reads whatever arrives into `buf`, transforms it in place (upper-case when `upper`),
/// writes it back whole, and loops. One read or write in flight at a time, so memory is
/// bounded by `buf` and a client that stops reading stops being read (back-pressure).
/// With `idle`, every read moves it to now + `idle_after`: run watch_deadline(*idle) beside
/// the loop (awaitable_operators `||`) to close a connection silent that long.
template <class AsyncStream>
asio::awaitable<echo_result> echo_loop(AsyncStream& stream, std::span<char> buf, bool upper,
                                       deadline* idle = nullptr,
                                       deadline::clock::duration idle_after = {}) {
  constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);
  echo_result result;
  for (;;) {
    auto [rec, n] = co_await stream.async_read_some(asio::buffer(buf.data(), buf.size()), token);
    if (rec) {
      if (rec != asio::error::eof) result.error = rec;
      co_return result;
    }
    if (idle) idle->expires_after(idle_after);
    if (upper) ascii_upper(buf.first(n));
    auto [wec, written] = co_await asio::async_write(stream, asio::buffer(buf.data(), n), token);
    result.bytes += written;
    if (wec) {
      result.error = wec;
      co_return result;
    }
  }
}

}  // namespace sockit::session
