// wire_error: transfer's stable error codes ("busy", "too_large", ...; docs/PROTOCOL.md
// section 3) and what each means as a std::error_code, in one table read in both directions:
// the server names its errors with wire_code(), a client turns a reply's code back into an
// error with error_of_wire_code().
#pragma once

#include <span>
#include <string_view>
#include <system_error>

namespace sockit::service::transfer {

/// One row of the table: a code as it is sent, and the error it stands for.
struct wire_error_row {
  std::string_view code;
  std::error_condition error;
};

/// Every code this protocol defines. Both directions read the rows from the top: an error is
/// sent as the code of the first row whose error it is equivalent to, and a code received
/// means the error of the first row that has it. So several errors may share a code (a
/// server's own not_found and ENOENT are both "not_found"), and a code with no error of its
/// own (auth_failed, bad_request) comes after the row it shares an error with.
std::span<const wire_error_row> wire_error_table();

/// The code to send for `ec`: its row's, else "bad_request" for another of sockit's own
/// errors and "io_error" for any other (the filesystem's).
std::string_view wire_code(const std::error_code& ec);

/// What a received code means; errc::protocol_error for a code not in the table.
std::error_code error_of_wire_code(std::string_view code);

}  // namespace sockit::service::transfer
