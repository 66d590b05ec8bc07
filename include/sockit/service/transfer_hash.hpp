// Streaming file hashes for transfer: XXH3-128 (default, fast), SHA-256 and MD5 (the seeds'
// classic format), computed in one pass as bytes go by and printed as lowercase hex.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace sockit::service {

enum class hash_algorithm : std::uint8_t { xxh3, sha256, md5 };

/// "xxh3" | "sha256" | "md5" (the names on the wire and on the command line).
std::string_view hash_name(hash_algorithm a) noexcept;
/// Non-throwing parse; false when the name is unknown.
bool parse_hash_name(std::string_view name, hash_algorithm& out) noexcept;

/// An incremental hash. Not thread-safe; cheap to clone (to keep a prefix's state).
class hasher {
 public:
  explicit hasher(hash_algorithm a = hash_algorithm::xxh3);
  ~hasher();
  hasher(const hasher& other);
  hasher& operator=(const hasher& other);
  hasher(hasher&&) noexcept;
  hasher& operator=(hasher&&) noexcept;

  hash_algorithm algorithm() const noexcept { return algo_; }
  void update(const void* data, std::size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// The digest of everything so far, as lowercase hex; the state is left unchanged.
  std::string hex() const;
  /// Starts again from nothing.
  void reset();

 private:
  struct state;
  hash_algorithm algo_;
  std::unique_ptr<state> s_;
};

/// Hashes `length` bytes of the open file `fd` from `offset` (pread, no seek) into `h`.
/// When `stop` is given and becomes true, gives up between 1 MiB reads with
/// std::errc::operation_canceled (a server shutting down does not wait for a huge prefix).
void hash_file_range(int fd, std::uint64_t offset, std::uint64_t length, hasher& h,
                     std::error_code& ec, const std::atomic<bool>* stop = nullptr);

}  // namespace sockit::service
