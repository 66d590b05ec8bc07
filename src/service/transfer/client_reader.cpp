// The transfer client's blocking frame reader: recv(2) into a codec::frame_cursor.
#include "client_reader.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "sockit/net/error.hpp"

namespace sockit::service::client_detail {

using status = codec::frame_cursor::status;

bool blocking_frame_reader::read_header(codec::frame_header& h, std::error_code& ec) {
  for (;;) {
    auto st = cursor_.next_header(h);
    if (st == status::ready) return true;
    if (st == status::error) {
      ec = cursor_.error();
      return false;
    }
    if (!fill(ec)) return false;
  }
}

std::string_view blocking_frame_reader::read_body(std::error_code& ec) {
  for (;;) {
    std::string_view piece;
    auto st = cursor_.next_piece(piece);
    if (st == status::ready) return piece;
    if (st == status::error) {
      ec = cursor_.error();
      return {};
    }
    if (!fill(ec)) return {};
  }
}

bool blocking_frame_reader::read_body_into(std::string& out, std::error_code& ec) {
  out.clear();
  while (cursor_.body_left() > 0) {
    auto piece = read_body(ec);
    if (ec) return false;
    out.append(piece);
  }
  return true;
}

bool blocking_frame_reader::fill(std::error_code& ec) {
  auto area = cursor_.write_area();
  for (;;) {
    ssize_t n = ::recv(fd_, area.data(), area.size(), 0);
    if (n > 0) {
      cursor_.commit(static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) {
      eof_ = cursor_.at_frame_boundary();
      ec = eof_ ? make_error_code(std::errc::connection_reset)
                : make_error_code(errc::protocol_error);
      return false;
    }
    if (errno == EINTR) continue;
    ec = (errno == EAGAIN || errno == EWOULDBLOCK) ? make_error_code(std::errc::timed_out)
                                                   : std::error_code(errno, std::system_category());
    return false;
  }
}

}  // namespace sockit::service::client_detail
