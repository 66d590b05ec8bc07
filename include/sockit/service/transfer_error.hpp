// The file service's own errors (a name that is unsafe, busy or missing, a hash that does
// not match, ...) as std::error_code. They live here, not in net/error.hpp, because only the
// transfer service and its file side produce them; the framing errors every protocol shares
// (frame_too_large, bad_header, protocol_error, ...) stay in sockit::errc. What each is
// called on the wire is src/service/transfer/wire_error.cpp's table.
#pragma once

#include <system_error>

namespace sockit::service {

enum class transfer_errc {
  ok = 0,
  hash_mismatch,        // the received bytes do not hash to the announced digest
  unsafe_name,          // a peer's name that could escape or confuse the directory
  unsupported_version,  // no protocol version in common
  name_exists,          // upload target exists and overwrite was not allowed
  name_busy,            // another upload of the same name is in progress
  not_found,            // no such file on the server
  no_space,             // not enough free space for the announced size
  not_regular_file,     // a FIFO, device or socket where a file to read was expected
  not_permitted,        // the server's access mode refuses the op (--read-only, --upload-only)
};

/// The category of every transfer_errc value ("sockit.transfer"). Safe from any thread.
const std::error_category& transfer_category() noexcept;

inline std::error_code make_error_code(transfer_errc e) noexcept {
  return {static_cast<int>(e), transfer_category()};
}

}  // namespace sockit::service

template <>
struct std::is_error_code_enum<sockit::service::transfer_errc> : std::true_type {};
