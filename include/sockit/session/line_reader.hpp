// line_reader: reads '\n'-terminated lines from any Asio stream with a hard limit on line
// length, checked before more is buffered, so a peer can never make it allocate unbounded
// memory. An over-long line is reported once and skipped, and the next line reads normally.
#pragma once

#include <algorithm>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

namespace sockit::session {

/// Thread-safety: none; use on the stream's executor. Lifetime: references `stream`, which
/// must outlive it. One read_line() at a time.
template <class AsyncStream>
class line_reader {
 public:
  /// `max_line` counts the bytes of a line without its "\n" (or "\r\n"). `chunk` is the
  /// size of one read; the buffer never holds more than max_line + chunk bytes.
  line_reader(AsyncStream& stream, std::size_t max_line, std::size_t chunk = 1024)
      : stream_(stream), max_line_(max_line), chunk_(std::max<std::size_t>(chunk, 1)) {}

  /// Reads the next line into `line` without its terminator ("\n", or "\r\n").
  /// Returns an empty code for a line; std::errc::message_size once for a line longer than
  /// max_line (its bytes are discarded up to and including its '\n'; `line` then holds its
  /// first max_line bytes); asio::error::eof when the peer closed with nothing pending (a
  /// final unterminated line is returned first as a line); any other read error as is.
  asio::awaitable<std::error_code> read_line(std::string& line) {
    constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);
    for (;;) {
      if (discarding_) {
        // Skipping the rest of an over-long line: drop buffered bytes up to its end.
        auto nl = static_cast<const char*>(std::memchr(buf_.data() + start_, '\n', size()));
        if (nl != nullptr) {
          start_ = static_cast<std::size_t>(nl - buf_.data()) + 1;
          discarding_ = false;
          compact();
          continue;
        }
        start_ = end_ = 0;
      } else if (size() != 0) {
        auto nl = static_cast<const char*>(std::memchr(buf_.data() + start_, '\n', size()));
        std::size_t len = nl ? static_cast<std::size_t>(nl - (buf_.data() + start_)) : size();
        std::size_t content = len;
        if (content > 0 && buf_[start_ + content - 1] == '\r') --content;
        if (content > max_line_) {
          // Too long, terminated or not: report it now rather than buffer any more of it.
          line.assign(buf_.data() + start_, max_line_);
          if (nl) {
            start_ += len + 1;
          } else {
            start_ = end_ = 0;
            discarding_ = true;
          }
          compact();
          co_return std::make_error_code(std::errc::message_size);
        }
        if (nl) {
          line.assign(buf_.data() + start_, content);
          start_ += len + 1;
          compact();
          co_return std::error_code{};
        }
      }
      if (eof_) {
        if (size() != 0 && !discarding_) {
          line.assign(buf_.data() + start_, size());
          start_ = end_ = 0;
          co_return std::error_code{};
        }
        co_return make_error_code(asio::error::eof);
      }
      // Room for one more chunk; size() <= max_line here, so the buffer stays bounded.
      if (start_ != 0) compact(true);
      if (buf_.size() < end_ + chunk_) buf_.resize(end_ + chunk_);
      auto [ec, n] =
          co_await stream_.async_read_some(asio::buffer(buf_.data() + end_, chunk_), token);
      end_ += n;
      if (ec == asio::error::eof) {
        eof_ = true;
      } else if (ec) {
        co_return ec;
      }
    }
  }

  /// Bytes buffered but not yet returned (for tests).
  std::size_t buffered() const noexcept { return size(); }
  /// Current buffer allocation (for tests of the memory bound).
  std::size_t capacity() const noexcept { return buf_.capacity(); }

 private:
  std::size_t size() const noexcept { return end_ - start_; }

  // Moves pending bytes to the front; gives memory back after a long line was read.
  void compact(bool always = false) {
    if (start_ == end_) {
      start_ = end_ = 0;
      if (buf_.capacity() > 4 * chunk_) std::string().swap(buf_);
      return;
    }
    if (always || start_ > chunk_) {
      std::memmove(buf_.data(), buf_.data() + start_, size());
      end_ -= start_;
      start_ = 0;
    }
  }

  AsyncStream& stream_;
  std::string buf_;
  std::size_t start_ = 0, end_ = 0;
  std::size_t max_line_, chunk_;
  bool discarding_ = false;
  bool eof_ = false;
};

}  // namespace sockit::session
