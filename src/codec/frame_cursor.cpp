// frame_cursor: the buffer-and-parser step every frame reader shares (no I/O).
#include "sockit/codec/frame_cursor.hpp"

#include <algorithm>

namespace sockit::codec {

frame_cursor::frame_cursor(limits lim, std::size_t buffer_size)
    : parser_(lim), buf_(std::max<std::size_t>(buffer_size, 16)) {}

std::span<char> frame_cursor::write_area() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (end_ == buf_.size()) {
    std::copy(buf_.begin() + static_cast<std::ptrdiff_t>(begin_),
              buf_.begin() + static_cast<std::ptrdiff_t>(end_), buf_.begin());
    end_ -= begin_;
    begin_ = 0;
  }
  return {buf_.data() + end_, buf_.size() - end_};
}

codec::parser::event frame_cursor::advance() {
  std::string_view in(buf_.data() + begin_, end_ - begin_);
  auto ev = parser_.next(in);
  begin_ = end_ - in.size();
  return ev;
}

// After a header or a body piece: a frame with nothing (more) to hand out is complete, so
// the parser is stepped past its frame_end now and at_frame_boundary() tells the truth.
void frame_cursor::body_taken() {
  if (body_left_ == 0) {
    std::string_view none;
    parser_.next(none);
  }
}

frame_cursor::status frame_cursor::detect_format(format& fmt) {
  if (end_ - begin_ < length_prefix_size) return status::need_more;
  fmt = codec::detect_format(std::span<const char, 4>(buf_.data() + begin_, 4), parser_.limit(),
                             error_);
  if (error_) return status::error;
  if (fmt == format::native) begin_ += length_prefix_size;
  parser_ = codec::parser(parser_.limit(), fmt);
  return status::ready;
}

frame_cursor::status frame_cursor::next_header(frame_header& out) {
  for (;;) {
    switch (advance()) {
      case codec::parser::event::header:
        out = std::move(parser_.header());
        body_left_ = out.has_body ? out.body_size : 0;
        body_taken();
        return status::ready;
      case codec::parser::event::body:
      case codec::parser::event::frame_end:
        continue;  // the caller left a body unread: skip it
      case codec::parser::event::error:
        return status::error;
      case codec::parser::event::need_more:
        return status::need_more;
    }
  }
}

frame_cursor::status frame_cursor::next_piece(std::string_view& piece) {
  piece = {};
  if (body_left_ == 0) return status::ready;
  switch (advance()) {
    case codec::parser::event::body:
      piece = parser_.body_piece();
      body_left_ = parser_.body_remaining();
      body_taken();
      return status::ready;
    case codec::parser::event::error:
      return status::error;
    default:
      return status::need_more;  // in a body the parser reports nothing else
  }
}

}  // namespace sockit::codec
