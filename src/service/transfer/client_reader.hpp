// The transfer client's blocking frame reader (internal): a codec::frame_cursor fed by
// recv(2) on a blocking socket, whose SO_RCVTIMEO is the read timeout.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "sockit/codec/frame_cursor.hpp"

namespace sockit::service::client_detail {

class blocking_frame_reader {
 public:
  blocking_frame_reader(int fd, codec::limits lim) : fd_(fd), cursor_(lim) {}

  /// The next header; any unread body of the previous frame is skipped. A clean end of
  /// stream between frames is connection_reset with clean_eof() true; one inside a frame is
  /// errc::protocol_error; the socket's timeout, std::errc::timed_out.
  bool read_header(codec::frame_header& h, std::error_code& ec);
  /// The next piece of the current body (valid until the next call); empty when done or on
  /// error (`ec`).
  std::string_view read_body(std::error_code& ec);
  bool read_body_into(std::string& out, std::error_code& ec);

  std::uint64_t body_left() const noexcept { return cursor_.body_left(); }
  /// The last failure was the peer closing cleanly between frames.
  bool clean_eof() const noexcept { return eof_; }

 private:
  bool fill(std::error_code& ec);

  int fd_;
  codec::frame_cursor cursor_;
  bool eof_ = false;
};

}  // namespace sockit::service::client_detail
