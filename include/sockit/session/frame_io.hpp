// Frame reader and writer coroutines over any Asio stream (TCP, Unix, later TLS, a test
// stream): buffered reads fed to codec::parser, bodies handed out as views into the read
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
#include "sockit/net/error.hpp"
#include "sockit/session/deadline.hpp"

namespace sockit::session {

struct frame_timeouts {
  // Absolute: a whole header must arrive within this of starting to wait for it.
  std::chrono::steady_clock::duration header = std::chrono::seconds(30);
  // Inactivity: each body read must make progress within this.
  std::chrono::steady_clock::duration body = std::chrono::seconds(30);
};

/// Reads frames from `Stream`. One reader per connection, used from its loop only; the
/// stream and deadline must outlive it.
template <class Stream>
class frame_reader {
 public:
  frame_reader(Stream& stream, codec::limits lim, deadline* d = nullptr,
               frame_timeouts timeouts = {}, std::size_t buffer_size = 256 * 1024)
      : stream_(stream), parser_(lim), deadline_(d), timeouts_(timeouts), buf_(buffer_size) {}

  /// Reads the 4 opening bytes and decides native vs classic (codec::detect_format), under
  /// the header deadline. The parser then speaks that format.
  asio::awaitable<std::error_code> read_opening(codec::format& fmt) {
    arm(timeouts_.header);
    while (end_ - begin_ < 4) {
      if (auto ec = co_await fill()) co_return ec;
    }
    std::error_code ec;
    fmt = codec::detect_format(std::span<const char, 4>(buf_.data() + begin_, 4), parser_.limit(),
                               ec);
    if (ec) co_return ec;
    if (fmt == codec::format::native) begin_ += 4;  // classic: the 4 bytes are a length
    parser_ = codec::parser(parser_.limit(), fmt);
    co_return std::error_code{};
  }

  /// Non-suspending fast path: takes the next header if it is already buffered whole (no
  /// coroutine frame, no read). Returns false when more bytes are needed or on error (`ec`).
  /// Any unread body of the previous frame must be buffered too, or it returns false.
  bool try_read_header(codec::frame_header& out, std::error_code& ec) {
    for (;;) {
      std::string_view in(buf_.data() + begin_, end_ - begin_);
      auto ev = parser_.next(in);
      begin_ = end_ - in.size();
      switch (ev) {
        case codec::parser::event::header:
          out = std::move(parser_.header());
          body_left_ = out.has_body ? out.body_size : 0;
          if (body_left_ == 0) {
            std::string_view none;
            parser_.next(none);
          }
          return true;
        case codec::parser::event::body:
        case codec::parser::event::frame_end:
          continue;
        case codec::parser::event::error:
          ec = parser_.error();
          return false;
        case codec::parser::event::need_more:
          return false;
      }
    }
  }

  /// Non-suspending: the next buffered piece of the current body, or empty when nothing of
  /// it is buffered (then co_await read_body()).
  std::string_view try_read_body() {
    if (body_left_ == 0 || begin_ == end_) return {};
    std::string_view in(buf_.data() + begin_, end_ - begin_);
    auto ev = parser_.next(in);
    begin_ = end_ - in.size();
    if (ev != codec::parser::event::body) return {};
    body_left_ = parser_.body_remaining();
    if (body_left_ == 0) {
      std::string_view none;
      parser_.next(none);
    }
    return parser_.body_piece();
  }

  /// Reads the next frame header; any unread body of the previous frame is skipped first.
  /// At a clean end of stream between frames returns asio::error::eof; a stream that ends
  /// inside a frame gives errc::protocol_error; a passed deadline, errc::timed_out.
  asio::awaitable<std::error_code> read_header(codec::frame_header& out) {
    arm(timeouts_.header);
    for (;;) {
      std::string_view in(buf_.data() + begin_, end_ - begin_);
      auto ev = parser_.next(in);
      begin_ = end_ - in.size();
      switch (ev) {
        case codec::parser::event::header:
          out = std::move(parser_.header());
          body_left_ = out.has_body ? out.body_size : 0;
          if (body_left_ == 0) {
            std::string_view none;
            parser_.next(none);  // frame_end: the frame is complete already
          }
          disarm();
          co_return std::error_code{};
        case codec::parser::event::body:
        case codec::parser::event::frame_end:
          continue;  // the caller left a body unread: skip it
        case codec::parser::event::error:
          co_return parser_.error();
        case codec::parser::event::need_more:
          break;
      }
      if (auto ec = co_await fill()) co_return ec;
    }
  }

  /// The next piece of the current body (a view into the read buffer, valid until the next
  /// call); empty once the body is complete. Inactivity deadline per read.
  asio::awaitable<std::pair<std::error_code, std::string_view>> read_body() {
    if (body_left_ == 0) co_return std::pair{std::error_code{}, std::string_view{}};
    for (;;) {
      std::string_view in(buf_.data() + begin_, end_ - begin_);
      auto ev = parser_.next(in);
      begin_ = end_ - in.size();
      if (ev == codec::parser::event::body) {
        body_left_ = parser_.body_remaining();
        if (body_left_ == 0) {
          std::string_view none;
          parser_.next(none);  // frame_end
        }
        co_return std::pair{std::error_code{}, parser_.body_piece()};
      }
      if (ev == codec::parser::event::error)
        co_return std::pair{parser_.error(), std::string_view{}};
      arm(timeouts_.body);
      auto ec = co_await fill();
      disarm();
      if (ec) co_return std::pair{ec, std::string_view{}};
    }
  }

  /// Reads the whole body into `out` (for small bodies; the size was already checked
  /// against max_body by the parser).
  asio::awaitable<std::error_code> read_body_into(std::string& out) {
    out.clear();
    out.reserve(static_cast<std::size_t>(body_left_));
    while (body_left_ > 0) {
      auto [ec, piece] = co_await read_body();
      if (ec) co_return ec;
      out.append(piece);
    }
    co_return std::error_code{};
  }

  std::uint64_t body_left() const noexcept { return body_left_; }
  /// True when bytes of a next frame are already buffered (so a reply can wait to be batched).
  bool has_buffered() const noexcept { return end_ > begin_; }
  codec::parser& parser() noexcept { return parser_; }

 private:
  void arm(std::chrono::steady_clock::duration d) {
    if (deadline_) deadline_->expires_after(d);
  }
  void disarm() {
    if (deadline_) deadline_->clear();
  }

  asio::awaitable<std::error_code> fill() {
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (end_ == buf_.size()) {
      std::copy(buf_.begin() + static_cast<std::ptrdiff_t>(begin_),
                buf_.begin() + static_cast<std::ptrdiff_t>(end_), buf_.begin());
      end_ -= begin_;
      begin_ = 0;
    }
    auto [ec, n] =
        co_await stream_.async_read_some(asio::buffer(buf_.data() + end_, buf_.size() - end_),
                                         asio::experimental::as_tuple(asio::use_awaitable));
    end_ += n;
    if (!ec) co_return std::error_code{};
    if (deadline_ && deadline_->expired()) co_return make_error_code(errc::timed_out);
    if (ec == asio::error::eof && !parser_.at_frame_boundary()) {
      co_return make_error_code(errc::protocol_error);
    }
    co_return ec;
  }

  Stream& stream_;
  codec::parser parser_;
  deadline* deadline_;
  frame_timeouts timeouts_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  std::uint64_t body_left_ = 0;
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
    if (ec && deadline_ && deadline_->expired()) co_return make_error_code(errc::timed_out);
    co_return ec;
  }

  asio::awaitable<std::error_code> write(const nlohmann::json& header, std::string_view body = {}) {
    queue(header, body);
    co_return co_await flush();
  }

  /// Sends `count` bytes of file `fd` from `offset` after flushing queued frames: sendfile(2)
  /// on a socket (no copy through user space), read+write otherwise. `on_sent` is called
  /// with each amount sent (for hashing or progress it must re-read; see transfer).
  asio::awaitable<std::error_code> send_file(int fd, std::uint64_t offset, std::uint64_t count) {
    if (auto ec = co_await flush()) co_return ec;
    if constexpr (requires(Stream & s) {
                    s.native_handle();
                    s.native_non_blocking(true);
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
            if (deadline_ && deadline_->expired()) co_return make_error_code(errc::timed_out);
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
