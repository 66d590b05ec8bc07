// transfer_client: the client side of `sockit put/get/ls` (native protocol, pipelined: many
// files on one connection with no per-file round trip) and of `put --classic` (the seeds'
// format). Blocking sockets and one helper thread per call; it never prints: progress goes
// to a callback, outcomes to result structs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "sockit/net/endpoint.hpp"
#include "sockit/service/known_hosts.hpp"
#include "sockit/service/transfer_hash.hpp"

namespace sockit::service {

/// One thing to upload: a regular file, stdin ("-", unknown size), or a directory to create.
struct put_item {
  enum class kind { file, stdin_stream, directory };
  kind what = kind::file;
  std::string local_path;
  std::string remote_name;  // relative, '/'-separated
};

/// Expands PATHs into items: directories recursively (relative names under the directory's
/// own name, empty directories included), symlinks never followed (reported in `skipped`).
std::vector<put_item> plan_put(const std::vector<std::string>& paths, const std::string& stdin_name,
                               std::vector<std::string>& skipped, std::error_code& ec,
                               std::string& why);

struct transfer_progress {
  const std::string& name;
  std::uint64_t done;   // bytes of this file so far (including a resumed prefix)
  std::uint64_t total;  // UINT64_MAX when unknown (stdin)
  std::size_t index;    // which file, 0-based, of `count`
  std::size_t count;
  // The whole transfer (directories not counted): files finished (this one included once
  // its last byte is through), bytes of every file so far, and the totals.
  std::size_t files_done = 0;
  std::size_t files_total = 0;
  std::uint64_t all_done = 0;
  std::uint64_t all_total = UINT64_MAX;  // UINT64_MAX when a stream of unknown size is part
};
using progress_fn = std::function<void(const transfer_progress&)>;

struct file_result {
  std::string name;
  std::uint64_t bytes = 0;      // bytes that crossed the network for this file
  std::uint64_t file_size = 0;  // final size
  std::uint64_t resumed_from = 0;
  bool restarted = false;  // --resume found a prefix that did not match: started over
  bool directory = false;
  std::string hash;  // hex digest both sides agreed on
  std::string code;  // empty on success, else the protocol error code ("exists", ...)
  std::string message;
  double seconds = 0;
  bool ok() const noexcept { return code.empty(); }
};

struct ls_entry {
  std::string name, type;
  std::uint64_t size = 0;
  unsigned mode = 0;
  std::int64_t mtime_ns = 0;
};

struct transfer_client_options {
  hash_algorithm hash = hash_algorithm::xxh3;
  bool resume = false;
  bool overwrite = false;
  bool preserve_mode = false;  // get: keep a file's exec bits (still masked by the umask)
  int io_timeout_s = 60;       // a peer silent this long is an error
  // Security (docs/SECURITY.md). The library's defaults are plaintext; `sockit put/get/ls`
  // turn TLS on unless told --plain.
  bool tls = false;
  // How the server's identity is trusted: a CA, --pin, or known_hosts.
  trust_policy trust;
  // Sent in hello as {"auth": {"token": ...}} (inside TLS unless plaintext); empty: none.
  std::string token;
};

class transfer_client {
 public:
  explicit transfer_client(transfer_client_options options = {});
  ~transfer_client();
  transfer_client(const transfer_client&) = delete;
  transfer_client& operator=(const transfer_client&) = delete;

  /// Connects (with TLS: the handshake, and the server's identity checked against `pin` or
  /// known_hosts before anything is sent), sends the magic and hello, and checks the
  /// server's hello.
  void connect(const net::endpoint& e, std::error_code& ec, std::string& why);

  /// Uploads every item, pipelined. One result per item, in order. Stops early only when
  /// the connection fails (the remaining items then carry that error).
  std::vector<file_result> put(const std::vector<put_item>& items, const progress_fn& progress);

  /// Downloads NAMEs (files or directories) into `out_dir`. Every entry written lies inside
  /// the subtree of the NAME it was listed for (others are refused as unsafe_name, nothing
  /// written); modes are masked by the umask (files lose exec bits unless preserve_mode);
  /// directories that existed before keep their mode and mtime. A malformed reply ends the
  /// transfer with protocol_error results, partials kept for resume.
  std::vector<file_result> get(const std::vector<std::string>& names, const std::string& out_dir,
                               const progress_fn& progress);

  /// `truncated` (if given) is set when the server cut the listing short at its limits
  /// (docs/PROTOCOL.md: entries or depth); the entries before the cut are returned.
  std::vector<ls_entry> ls(const std::string& path, bool recursive, std::error_code& ec,
                           std::string& why, bool* truncated = nullptr);

  /// The seeds' classic upload: struct.pack('i', len(head)) + {"file_size","file_name","md5"}
  /// + the bytes, for each file, on a fresh connection (no magic, no replies).
  static std::vector<file_result> put_classic(const net::endpoint& e,
                                              const std::vector<std::string>& files,
                                              const progress_fn& progress, std::error_code& ec,
                                              std::string& why);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sockit::service
