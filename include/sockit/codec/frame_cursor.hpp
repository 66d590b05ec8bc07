// frame_cursor: the one "read buffer + codec::parser + body left" step behind every frame
// reader (the coroutine session::frame_reader and the transfer client's blocking reader).
// It does no I/O: the caller reads into write_area() and commit()s what arrived; the cursor
// hands out headers and body pieces (views into its buffer, never copied).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "sockit/codec/frame.hpp"

namespace sockit::codec {

class frame_cursor {
 public:
  enum class status : std::uint8_t {
    need_more,  // nothing more can be taken from what is buffered: read, commit, call again
    ready,      // the result is valid
    error,      // error() says why; the stream is unusable
  };

  explicit frame_cursor(limits lim = {}, std::size_t buffer_size = 256 * 1024);

  /// Where the next read goes; never empty. Buffered bytes not yet taken are moved to the
  /// front first when the free space at the end has run out.
  std::span<char> write_area();
  /// `n` bytes were read into write_area().
  void commit(std::size_t n) noexcept { end_ += n; }

  /// Decides native vs classic from the 4 opening bytes (codec::detect_format); the parser
  /// then speaks that format. A native magic is consumed; a classic one is the first
  /// header's length and stays.
  status detect_format(format& fmt);
  /// The next frame header; any unread body of the previous frame is skipped first.
  status next_header(frame_header& out);
  /// The next buffered piece of the current body (valid until the next call); ready with an
  /// empty piece once the body is complete.
  status next_piece(std::string_view& piece);

  std::error_code error() const noexcept { return error_ ? error_ : parser_.error(); }
  /// Body bytes of the current frame not yet handed out.
  std::uint64_t body_left() const noexcept { return body_left_; }
  /// True when bytes not yet taken are buffered (e.g. the start of a next frame).
  bool has_buffered() const noexcept { return end_ > begin_; }
  /// True between frames: a stream that ends here ended cleanly.
  bool at_frame_boundary() const noexcept { return parser_.at_frame_boundary(); }
  codec::parser& parser() noexcept { return parser_; }
  const limits& limit() const noexcept { return parser_.limit(); }

 private:
  codec::parser::event advance();
  void body_taken();

  codec::parser parser_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  std::uint64_t body_left_ = 0;
  std::error_code error_;  // detect_format's; the parser keeps its own
};

}  // namespace sockit::codec
