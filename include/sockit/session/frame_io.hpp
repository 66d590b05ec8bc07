// Frame reader and writer coroutines over any Asio stream (TCP, Unix, later TLS, a test
// stream): reads fed to a codec::frame_cursor, bodies handed out as views into the read
// buffer (never copied), deadlines on headers and bodies, batched writes, and sendfile for
// file bodies on real sockets.
#pragma once

#include <sys/sendfile.h>
#include <sys/types.h>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/socket_base.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "sockit/codec/frame.hpp"
#include "sockit/codec/frame_cursor.hpp"
#include "sockit/net/error.hpp"
#include "sockit/session/deadline.hpp"

namespace sockit::session {

struct frame_timeouts {
  // Absolute: a whole header must arrive within this of starting to wait for it.
  std::chrono::steady_clock::duration header = std::chrono::seconds(30);
  // Inactivity: each body read must make progress within this.
  std::chrono::steady_clock::duration body = std::chrono::seconds(30);
};

/// Reads frames from `Stream`: a codec::frame_cursor fed by async_read_some, under the deadlines.
/// One reader per connection, used from its loop only; the stream and deadline must outlive it.
template <class Stream>
class frame_reader {
 public:
  frame_reader(Stream& stream, codec::limits lim, deadline* d = nullptr,
               frame_timeouts timeouts = {}, std::size_t buffer_size = 256 * 1024)
      : stream_(stream), cursor_(lim, buffer_size), deadline_(d), timeouts_(timeouts) {}

  /// Reads the 4 opening bytes and decides native vs classic (codec::detect_format), under the
  /// header deadline. The parser then speaks that format.
  asio::awaitable<std::error_code> read_opening(codec::format& fmt) {
    arm(timeouts_.header);
    for (;;) {
      auto st = cursor_.detect_format(fmt);
      if (st == codec::frame_cursor::status::ready) co_return std::error_code{};
      if (st == codec::frame_cursor::status::error) co_return cursor_.error();
      if (auto ec = co_await fill()) co_return ec;
    }
  }

  /// Reads the next frame header; any unread body of the previous frame is skipped first. At a
  /// clean end of stream between frames returns asio::error::eof; a stream that ends inside a frame
  /// gives errc::protocol_error; a passed deadline, std::errc::timed_out.
  asio::awaitable<std::error_code> read_header(codec::frame_header& out) {
    arm(timeouts_.header);
    for (;;) {
      auto st = cursor_.next_header(out);
      if (st == codec::frame_cursor::status::ready) {
        disarm();
        co_return std::error_code{};
      }
      if (st == codec::frame_cursor::status::error) co_return cursor_.error();
      if (auto ec = co_await fill()) co_return ec;
    }
  }

  /// The next piece of the current body (a view into the read buffer, valid until the next call);
  /// empty once the body is complete. Inactivity deadline per read.
  asio::awaitable<std::pair<std::error_code, std::string_view>> read_body() {
    for (;;) {
      std::string_view piece;
      auto st = cursor_.next_piece(piece);
      if (st == codec::frame_cursor::status::ready) co_return std::pair{std::error_code{}, piece};
      if (st == codec::frame_cursor::status::error)
        co_return std::pair{cursor_.error(), std::string_view{}};
      arm(timeouts_.body);
      auto ec = co_await fill();
      disarm();
      if (ec) co_return std::pair{ec, std::string_view{}};
    }
  }

  /// Reads the whole body into `out` (for small bodies; the size was already checked against
  /// max_body by the parser).
  asio::awaitable<std::error_code> read_body_into(std::string& out) {
    out.clear();
    out.reserve(static_cast<std::size_t>(cursor_.body_left()));
    while (cursor_.body_left() > 0) {
      auto [ec, piece] = co_await read_body();
      if (ec) co_return ec;
      out.append(piece);
    }
    co_return std::error_code{};
  }

  std::uint64_t body_left() const noexcept { return cursor_.body_left(); }
  /// True when bytes of a next frame are already buffered (so a reply can wait to be batched).
  bool has_buffered() const noexcept { return cursor_.has_buffered(); }
  codec::parser& parser() noexcept { return cursor_.parser(); }

 private:
  void arm(std::chrono::steady_clock::duration d) {
    if (deadline_) deadline_->expires_after(d);
  }
  void disarm() {
    if (deadline_) deadline_->clear();
  }

  asio::awaitable<std::error_code> fill() {
    auto area = cursor_.write_area();
    auto [ec, n] = co_await stream_.async_read_some(
        asio::buffer(area.data(), area.size()), asio::experimental::as_tuple(asio::use_awaitable));
    cursor_.commit(n);
    if (!ec) co_return std::error_code{};
    if constexpr (requires(std::error_code & e) { Stream::map_truncation(e); }) {
      Stream::map_truncation(ec);  // TLS without close_notify: as EOF (session/tls_stream.hpp)
    }
    if (deadline_ && deadline_->expired()) co_return make_error_code(std::errc::timed_out);
    if (ec == asio::error::eof && !cursor_.at_frame_boundary()) {
      co_return make_error_code(errc::protocol_error);
    }
    co_return ec;
  }

  Stream& stream_;
  codec::frame_cursor cursor_;
  deadline* deadline_;
  frame_timeouts timeouts_;
};

/// Writes frames to `Stream`, batching small ones: queue() appends, flush() sends all in one
/// write. One writer per connection; never two writes in flight.
template <class Stream>
class frame_writer {
 public:
  explicit frame_writer(
      Stream& stream, deadline* d = nullptr,
      std::chrono::steady_clock::duration write_timeout = std::chrono::seconds(30))
      : stream_(stream), deadline_(d), timeout_(write_timeout) {}

  void queue(const nlohmann::json& header, std::string_view body = {}) {
    codec::append_frame(out_, header, body);
  }
  void queue_raw(std::string_view bytes) { out_.append(bytes); }
  std::size_t queued() const noexcept { return out_.size(); }
  /// The stream written to (e.g. to poll whether its peer is still there).
  Stream& stream() noexcept { return stream_; }

  asio::awaitable<std::error_code> flush() {
    if (out_.empty()) co_return std::error_code{};
    if (deadline_) deadline_->expires_after(timeout_);
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(out_),
                                              asio::experimental::as_tuple(asio::use_awaitable));
    if (deadline_) deadline_->clear();
    out_.clear();
    if (ec && deadline_ && deadline_->expired()) co_return make_error_code(std::errc::timed_out);
    co_return ec;
  }

  asio::awaitable<std::error_code> write(const nlohmann::json& header, std::string_view body = {}) {
    queue(header, body);
    co_return co_await flush();
  }

  /// Sends `count` bytes of file `fd` from `offset` after flushing queued frames: sendfile(2)
  /// on a socket (no copy through user space), read+write otherwise (and under TLS, whose
  /// stream refuses native_non_blocking).
  asio::awaitable<std::error_code> send_file(int fd, std::uint64_t offset, std::uint64_t count) {
    if (auto ec = co_await flush()) co_return ec;
    if constexpr (requires(Stream & s, std::error_code & e) {
                    s.native_handle();
                    s.native_non_blocking(true, e);
                  }) {
      std::error_code nb;
      stream_.native_non_blocking(true, nb);
      if (!nb) {
        auto off = static_cast<off_t>(offset);
        while (count > 0) {
          std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(count, 1u << 30));
          ssize_t n = ::sendfile(stream_.native_handle(), fd, &off, chunk);
          if (n > 0) {
            count -= static_cast<std::uint64_t>(n);
            continue;
          }
          if (n == 0) co_return make_error_code(errc::protocol_error);  // file shrank
          if (errno == EINTR) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) {
            co_return std::error_code(errno, std::system_category());
          }
          if (deadline_) deadline_->expires_after(timeout_);
          auto [ec] = co_await stream_.async_wait(
              asio::socket_base::wait_write, asio::experimental::as_tuple(asio::use_awaitable));
          if (deadline_) deadline_->clear();
          if (ec) {
            if (deadline_ && deadline_->expired()) co_return make_error_code(std::errc::timed_out);
            co_return ec;
          }
        }
        co_return std::error_code{};
      }
    }
    std::vector<char> buf(256 * 1024);
    while (count > 0) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(count, buf.size()));
      ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) co_return std::error_code(errno, std::system_category());
      if (n == 0) co_return make_error_code(errc::protocol_error);
      if (deadline_) deadline_->expires_after(timeout_);
      auto [ec, w] =
          co_await asio::async_write(stream_, asio::buffer(buf.data(), static_cast<std::size_t>(n)),
                                     asio::experimental::as_tuple(asio::use_awaitable));
      if (deadline_) deadline_->clear();
      if (ec) co_return ec;
      offset += static_cast<std::uint64_t>(n);
      count -= static_cast<std::uint64_t>(n);
    }
    co_return std::error_code{};
  }

 private:
  Stream& stream_;
  deadline* deadline_;
  std::chrono::steady_clock::duration timeout_;
  std::string out_;
};

}  // namespace sockit::session
