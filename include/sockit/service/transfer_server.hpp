// transfer_server: the file server behind `sockit serve DIR`: native framed clients (put,
// get, ls, stat, mkdir; docs/PROTOCOL.md) and the seeds' classic uploads on the same port,
// many clients at once on a pool of event loops. It never prints: events go to a callback.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include "sockit/net/address_filter.hpp"
#include "sockit/net/endpoint.hpp"
#include "sockit/service/tls_identity.hpp"

namespace sockit::service {

struct transfer_server_options {
  std::string root;  // DIR: every name is a path below it
  net::endpoint endpoint;
  unsigned threads = 0;         // 0 = one per CPU
  std::size_t max_conns = 256;  // 0 = unlimited
  // Live connections one peer address may hold (0 = unlimited).
  std::size_t max_conns_per_ip = 32;
  std::uint64_t max_file_size = std::numeric_limits<std::uint64_t>::max();
  bool allow_overwrite = false;                     // honour clients' "overwrite": true
  std::chrono::milliseconds header_timeout{30000};  // absolute, per frame header
  std::chrono::milliseconds body_timeout{30000};    // inactivity while a body streams
  // An upload's body must average at least min_rate bytes/s over each rate_window (0 = no
  // floor), so a trickle (a byte every 29 s) cannot hold a connection or a `busy` name.
  std::uint64_t min_rate = 1024;
  std::chrono::milliseconds rate_window{60000};
  // Total bytes this server may write into DIR during its lifetime (stored files and the
  // partials it leaves); what was there before it started is not counted.
  std::uint64_t max_disk = std::numeric_limits<std::uint64_t>::max();
  // Uploads that would leave less free space are refused (no_space): the smaller of
  // min_free_bytes and min_free_fraction of the filesystem's size.
  std::uint64_t min_free_bytes = std::uint64_t{1} << 30;
  double min_free_fraction = 0.05;
  // Partial files not written for this long are removed (before start() returns, then
  // every ttl/4, at most hourly, on a thread of their own); zero keeps them forever.
  std::chrono::milliseconds partial_ttl{24LL * 3600 * 1000};
  std::uint32_t max_header = 64 * 1024;
  // A benchmark sink (like `iperf3 -s`): uploads are received and their hash verified, then
  // dropped; nothing is written, DIR is only listed and served for get.
  bool discard = false;
  // Security (docs/SECURITY.md). The library's defaults are plaintext and open; `sockit
  // serve` turns TLS and a token on unless told otherwise.
  // TLS 1.3 with this identity; an empty cert_pem means plaintext.
  tls_identity tls;
  // When not empty, a client's hello must carry {"auth": {"token": token}} (compared in
  // constant time; failures are delayed, longer for each from the same address). The
  // seeds' classic format has no hello, so it is refused then.
  std::string token;
  // Protected mode: only loopback and Unix-socket peers are served; others get one
  // `auth_failed` frame saying how to allow them.
  bool local_only = false;
  // Access modes: read_only refuses put and mkdir; upload_only (a drop box) refuses ls,
  // stat and get, so a peer can add files but neither list nor fetch any. Both: `forbidden`.
  bool read_only = false;
  bool upload_only = false;
  // Peers by address, checked at accept before TLS (net::address_filter): a refused one
  // gets one `auth_failed` frame and is closed. Unix-socket peers are not filtered.
  net::address_filter peers;
};

struct transfer_event {
  enum class type { accepted, closed, rejected, stored, sent, partial, failed, listed, expired };
  type what;
  std::string peer;  // "sweep" for expired partials
  std::string name;  // as the peer sent it (escape before printing); a partial's path
  std::uint64_t bytes = 0;
  std::string detail;  // error code / reason, format ("classic"), hash
};

struct transfer_stats {
  std::uint64_t accepted = 0, rejected = 0, active = 0;
  std::uint64_t stored = 0, sent = 0, failed = 0;
  std::uint64_t bytes_in = 0, bytes_out = 0;
};

class transfer_server {
 public:
  /// Opens DIR and binds at once; throws std::system_error with a clear message.
  explicit transfer_server(transfer_server_options options);
  ~transfer_server();
  transfer_server(const transfer_server&) = delete;
  transfer_server& operator=(const transfer_server&) = delete;

  net::endpoint local_endpoint() const;
  /// The TLS identity clients pin ("SHA256:..."), or empty when plaintext.
  const std::string& identity() const;
  /// Called on I/O threads; must be thread-safe and quick. Set before start().
  void on_event(std::function<void(const transfer_event&)> callback);
  void start();
  /// Stops accepting, closes every client (their partial files stay for --resume), waits.
  /// Safe from any thread but the loops', and more than once.
  void stop();
  /// Safe from any thread.
  transfer_stats stats() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sockit::service
