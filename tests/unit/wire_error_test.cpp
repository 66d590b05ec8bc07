// Test that the header is self-contained: it comes first.
#include "service/transfer/wire_error.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#include "sockit/net/error.hpp"
#include "sockit/service/transfer_error.hpp"

// The table of transfer's wire error codes against docs/PROTOCOL.md section 3 (read at test
// time: SOCKIT_PROTOCOL_MD is its path), so that a code added to one and not the other fails.
namespace sockit::service::transfer {
namespace {

// The codes of the "| code | meaning |" table under "## 3. Errors": rows "| `code` | ... |".
std::set<std::string> documented_codes() {
  std::ifstream in(SOCKIT_PROTOCOL_MD);
  EXPECT_TRUE(in) << "cannot read " << SOCKIT_PROTOCOL_MD;
  std::set<std::string> codes;
  bool in_section = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("## ", 0) == 0) in_section = line.rfind("## 3. Errors", 0) == 0;
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    auto end = line.find('`', 3);
    if (end == std::string::npos) continue;
    codes.insert(line.substr(3, end - 3));
  }
  return codes;
}

std::error_code error_of(const wire_error_row& row) {
  return {row.error.value(), row.error.category()};
}

TEST(TransferWireError, TableAndProtocolDocumentListTheSameCodes) {
  std::set<std::string> table;
  for (const auto& row : wire_error_table()) table.insert(std::string(row.code));
  std::set<std::string> doc = documented_codes();
  EXPECT_GE(doc.size(), 15u) << "the table in docs/PROTOCOL.md section 3 was not found";
  for (const auto& code : doc) EXPECT_TRUE(table.count(code)) << code << ": documented only";
  for (const auto& code : table) EXPECT_TRUE(doc.count(code)) << code << ": not documented";
}

TEST(TransferWireError, BothDirectionsReadTheFirstMatchingRow) {
  auto rows = wire_error_table();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::size_t first_code = 0, first_error = 0;
    while (rows[first_code].code != rows[i].code) ++first_code;
    while (rows[first_error].error != rows[i].error) ++first_error;
    EXPECT_EQ(error_of_wire_code(rows[i].code), error_of(rows[first_code])) << rows[i].code;
    EXPECT_EQ(wire_code(error_of(rows[i])), rows[first_error].code) << rows[i].code;
  }
}

TEST(TransferWireError, EveryTransferErrorHasItsOwnCode) {
  const std::pair<std::error_code, const char*> expected[] = {
      {errc::frame_too_large, "frame_too_large"},
      {errc::bad_header, "bad_header"},
      {errc::header_too_deep, "header_too_deep"},
      {errc::body_too_large, "too_large"},
      {transfer_errc::hash_mismatch, "hash_mismatch"},
      {transfer_errc::unsafe_name, "unsafe_name"},
      {errc::too_many_connections, "too_many_connections"},
      {make_error_code(std::errc::timed_out), "timed_out"},
      {errc::bad_magic, "bad_magic"},
      {transfer_errc::unsupported_version, "unsupported_version"},
      {transfer_errc::name_exists, "exists"},
      {transfer_errc::name_busy, "busy"},
      {transfer_errc::not_found, "not_found"},
      {transfer_errc::no_space, "no_space"},
      {errc::protocol_error, "protocol_error"},
      {transfer_errc::not_regular_file, "not_a_file"},
      {transfer_errc::not_permitted, "forbidden"},
  };
  for (const auto& [e, code] : expected) {
    EXPECT_EQ(wire_code(e), code);
    EXPECT_EQ(error_of_wire_code(code), e) << code;
  }
}

TEST(TransferWireError, FilesystemErrorsByMeaningTheRestAsIoError) {
  auto sys = [](int e) { return std::error_code(e, std::system_category()); };
  EXPECT_EQ(wire_code(sys(ENOENT)), "not_found");
  EXPECT_EQ(wire_code(sys(ENOSPC)), "no_space");
  EXPECT_EQ(wire_code(sys(EISDIR)), "is_directory");
  EXPECT_EQ(wire_code(sys(EFBIG)), "too_large");
  EXPECT_EQ(wire_code(sys(EIO)), "io_error");
  EXPECT_EQ(wire_code(sys(EACCES)), "io_error");
  EXPECT_EQ(wire_code(sys(ETIMEDOUT)), "timed_out");  // a socket's timeout is a deadline's
  EXPECT_EQ(wire_code(make_error_code(std::errc::no_such_file_or_directory)), "not_found");
}

TEST(TransferWireError, FallbacksForUnnamedErrorsAndUnknownCodes) {
  EXPECT_EQ(wire_code(errc::invalid_port), "bad_request");  // sockit's own, no code of its own
  EXPECT_EQ(error_of_wire_code("no_such_code"), make_error_code(errc::protocol_error));
  EXPECT_EQ(error_of_wire_code("auth_failed"), make_error_code(errc::protocol_error));
  EXPECT_EQ(error_of_wire_code("is_directory"), std::errc::is_a_directory);
  EXPECT_EQ(error_of_wire_code("io_error"), std::errc::io_error);
}

}  // namespace
}  // namespace sockit::service::transfer
