// access_token: the secret a client proves it may use a server with (`serve` requires one by
// default). 128 random bits, shown as 32 hex digits. A token is never taken from the command
// line (argv is visible to every user in `ps`: croc's CVE-2023-43621): it comes from a file,
// the environment (SOCKIT_TOKEN) or a prompt. No Asio.
#pragma once

#include <string>
#include <string_view>

namespace sockit::service {

/// 128 bits from the system's CSPRNG, as 32 lowercase hex digits.
std::string generate_token();

/// The token in a file: its first line, surrounding whitespace removed. Throws
/// std::runtime_error naming the file when it cannot be read, is empty, is longer than
/// 1 KiB, or holds control characters.
std::string read_token_file(const std::string& path);

/// SOCKIT_TOKEN from the environment, checked as a file's token; empty when unset.
std::string token_from_environment();

/// Compares in time that depends only on the lengths (CRYPTO_memcmp), so a peer cannot
/// find a token byte by byte from how long a refusal takes.
bool tokens_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace sockit::service
