// wire_error: the table of transfer's wire error codes and the two look-ups over it.
#include "wire_error.hpp"

#include "sockit/net/error.hpp"
#include "sockit/service/transfer_error.hpp"

namespace sockit::service::transfer {
namespace {

std::error_condition own(errc e) { return {static_cast<int>(e), error_category()}; }
std::error_condition file(transfer_errc e) { return {static_cast<int>(e), transfer_category()}; }
std::error_condition generic(std::errc e) { return std::make_error_condition(e); }

}  // namespace

// In docs/PROTOCOL.md's order (tests/unit/wire_error_test.cpp holds the two together).
std::span<const wire_error_row> wire_error_table() {
  static const wire_error_row table[] = {
      {"bad_magic", own(errc::bad_magic)},
      {"frame_too_large", own(errc::frame_too_large)},
      {"bad_header", own(errc::bad_header)},
      {"header_too_deep", own(errc::header_too_deep)},
      {"protocol_error", own(errc::protocol_error)},
      {"unsupported_version", file(transfer_errc::unsupported_version)},
      // Sent by name (the server has no authentication to fail); a client that gets it
      // has been refused as for a protocol error.
      {"auth_failed", own(errc::protocol_error)},
      {"too_many_connections", own(errc::too_many_connections)},
      {"unsafe_name", file(transfer_errc::unsafe_name)},
      {"exists", file(transfer_errc::name_exists)},
      {"busy", file(transfer_errc::name_busy)},
      {"not_found", file(transfer_errc::not_found)},
      {"not_found", generic(std::errc::no_such_file_or_directory)},
      {"is_directory", generic(std::errc::is_a_directory)},
      {"not_a_file", file(transfer_errc::not_regular_file)},
      {"forbidden", file(transfer_errc::not_permitted)},
      {"too_large", own(errc::body_too_large)},
      {"too_large", generic(std::errc::file_too_large)},
      {"no_space", file(transfer_errc::no_space)},
      {"no_space", generic(std::errc::no_space_on_device)},
      {"hash_mismatch", file(transfer_errc::hash_mismatch)},
      // A read deadline, a send timeout or a rate floor missed (all std::errc::timed_out).
      {"timed_out", generic(std::errc::timed_out)},
      {"io_error", generic(std::errc::io_error)},
      // The fallback for sockit's own errors that no row names (wire_code).
      {"bad_request", own(errc::protocol_error)},
  };
  return table;
}

std::string_view wire_code(const std::error_code& ec) {
  for (const auto& row : wire_error_table()) {
    if (ec == row.error) return row.code;
  }
  bool ours = ec.category() == error_category() || ec.category() == transfer_category();
  return ours ? "bad_request" : "io_error";
}

std::error_code error_of_wire_code(std::string_view code) {
  for (const auto& row : wire_error_table()) {
    if (row.code == code) return {row.error.value(), row.error.category()};
  }
  return errc::protocol_error;
}

}  // namespace sockit::service::transfer
