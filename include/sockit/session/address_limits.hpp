// Per-peer-address limits shared by the servers: a peer's address as a map key (IPv4-mapped
// IPv6 counted as the IPv4 address it is, other IPv6 addresses grouped by their /64), live
// connections per address against a cap (stream_server's --max-conns-per-ip), and token
// buckets per source address in a bounded table (echo's UDP reply rate).
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "sockit/session/token_bucket.hpp"

namespace sockit::session {

/// Who a peer is, as a key (no port): an IPv4 address (4 bytes); ::ffff:a.b.c.d gives the
/// same key as a.b.c.d, so a dual-stack listener counts an IPv4 peer once. Any other IPv6
/// address gives its /64 prefix (8 bytes): one host is routinely given a whole /64 and can
/// pick any address in it, so a per-/128 limit would be no limit. Link-local addresses
/// (fe80::/10) are the exception: every host of a link shares fe80::/64, so they keep the
/// whole address and its scope id (20 bytes). The lengths differ, so keys of different
/// kinds never collide. Empty for any other family (Unix peers are not limited per
/// address) or a truncated sockaddr.
std::string address_key(const sockaddr* sa, socklen_t len);

struct address_count_state;

/// One live connection's claim on its address's share. Releasing it (or destroying it)
/// gives the share back; it may outlive the address_counter that issued it. Move-only.
/// Not thread-safe itself, but slots from one counter may be released on any threads.
class address_slot {
 public:
  address_slot() noexcept = default;
  address_slot(address_slot&& other) noexcept = default;
  address_slot& operator=(address_slot&& other) noexcept;
  address_slot(const address_slot&) = delete;
  address_slot& operator=(const address_slot&) = delete;
  ~address_slot() { release(); }

  void release() noexcept;
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend class address_counter;
  std::shared_ptr<address_count_state> state_;
  std::string key_;
};

/// Live connections per address against a cap. The table holds only addresses with a live
/// connection, so it is bounded by the connections themselves. Safe to call from any thread.
class address_counter {
 public:
  /// `max` connections per address; 0 = no cap (try_claim always succeeds, counts nothing).
  explicit address_counter(std::size_t max);
  std::size_t max() const noexcept { return max_; }

  /// Claims one more connection for `key` into `slot`, or returns false (slot untouched)
  /// when `key` already has max(). An empty key (a Unix peer) is never capped.
  bool try_claim(const std::string& key, address_slot& slot);
  /// Live connections counted for `key`.
  std::size_t live(const std::string& key) const;
  /// Addresses with at least one live connection.
  std::size_t addresses() const;

 private:
  std::size_t max_;
  std::shared_ptr<address_count_state> state_;
};

/// Token buckets per source address: each source may take `burst` messages at once and
/// `rate` per second after that, and, when byte_rate > 0, likewise `byte_burst` bytes at
/// once and `byte_rate` per second. A message passes only when both buckets hold enough;
/// then it takes from both (so a message larger than byte_burst never passes). The table
/// holds at most `max_sources` sources; when it is full, the least recently seen source is
/// forgotten only if its buckets have refilled (forgetting it then changes nothing), else
/// the newcomer is refused. So a flood from spoofed sources can neither grow memory nor hand
/// a victim's address fresh buckets; it can only keep new sources waiting while it lasts.
/// Safe to call from any thread.
class source_limiter {
 public:
  using clock = std::chrono::steady_clock;

  struct limits {
    double rate = 1;            // messages a second, > 0
    double burst = 1;           // messages at once, >= 1
    double byte_rate = 0;       // bytes a second; 0 = bytes are not limited
    double byte_burst = 65536;  // bytes at once, >= 1 (when byte_rate > 0)
  };

  /// Messages only: `rate` > 0 a second, `burst` >= 1, `max_sources` >= 1.
  source_limiter(double rate, double burst, std::size_t max_sources);
  source_limiter(const limits& l, std::size_t max_sources);

  /// Takes one message of `bytes` bytes for `key` at `now`; false (nothing taken) when a
  /// bucket does not hold enough (or the table is full of sources still being limited).
  bool allow(const std::string& key, clock::time_point now, std::size_t bytes = 0);
  std::size_t sources() const;

 private:
  struct entry {
    std::string key;
    token_bucket messages, bytes;  // `bytes` unlimited when byte_rate is 0
  };

  limits lim_;
  std::size_t max_sources_;
  mutable std::mutex mu_;
  std::list<entry> lru_;  // most recently seen first
  std::unordered_map<std::string, std::list<entry>::iterator> index_;
};

}  // namespace sockit::session
