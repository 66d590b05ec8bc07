// access_token: the secret a client proves it may use a server with (`serve` requires one by
// default). 128 random bits, shown as 32 hex digits. A token is never taken from the command
// line (argv is visible to every user in `ps`: croc's CVE-2023-43621): it comes from a file,
// the environment (SOCKIT_TOKEN) or a prompt. No Asio.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
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

/// Failed token attempts per peer address, for the delay before a refusal: 250 ms for each
/// failure from that address so far, at most 5 s. Guessing a 128-bit token is hopeless
/// anyway, but a script retrying a wrong one should not spin. Bounded (the table is cleared
/// when it holds max_tracked addresses) and safe from any thread.
class auth_failures {
 public:
  static constexpr std::size_t max_tracked = 4096;
  /// Counts one more failure of `address` and returns how many it has had.
  unsigned record(const std::string& address);
  /// How long to wait before refusing the n-th failure.
  static std::chrono::milliseconds delay(unsigned n) noexcept {
    return std::chrono::milliseconds(250) * (n < 20 ? n : 20);
  }

 private:
  std::mutex mu_;
  std::map<std::string, unsigned> failures_;
};

}  // namespace sockit::service
