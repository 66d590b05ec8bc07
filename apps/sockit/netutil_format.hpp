// Shared output pieces of the address utilities (addr, ipcalc, host, resolve, ...): flags as
// JSON and as words, byte forms (hex, Python bytes literal), batch input and error reporting.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sockit/net/address.hpp"

namespace sockit::cli {

/// {"private":..,"global":..,...}: every ip_flags field under its Python name without "is_".
nlohmann::json flags_json(const net::ip_flags& f);
/// "private (RFC 1918), not globally reachable" and the like, for people.
std::string describe_flags(const net::ip_flags& f, net::ip_version v);

/// "c0a80102".
std::string hex_bytes(std::span<const std::uint8_t> bytes, std::string_view sep = {});
/// Exactly Python's repr() of the bytes: b'\xc0\xa8\x01\x02', b'ABCD', b"'".
std::string python_bytes_repr(std::span<const std::uint8_t> bytes);

/// The inputs of a command: its positional arguments, or with --stdin one per line of
/// standard input (blank lines skipped, surrounding whitespace trimmed).
std::vector<std::string> collect_inputs(const std::vector<std::string>& args, bool from_stdin);

/// Runs `one` for each input, catching its exceptions: an error becomes
/// {"input":..,"error":..} (JSON) or "sockit: INPUT: message" on stderr. Returns the exit
/// status: 0 when every input succeeded, 1 otherwise.
int for_each_input(const std::vector<std::string>& inputs, bool json,
                   const std::function<void(const std::string&)>& one);

/// Message of an exception for people, safe for the terminal.
std::string error_text(const std::exception& e);

}  // namespace sockit::cli
