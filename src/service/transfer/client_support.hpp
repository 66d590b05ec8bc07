// What the transfer client's files share (internal, not installed): the connection state
// behind transfer_client (impl), request ids, reply checking, result and progress
// bookkeeping, and the blocking send helpers.
#pragma once

#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "client_reader.hpp"
#include "sockit/codec/frame.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/service/tls_pump.hpp"
#include "sockit/service/transfer_client.hpp"

namespace sockit::service {

namespace client_detail {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;
constexpr std::uint64_t unknown_size = UINT64_MAX;

inline std::error_code last_error() { return {errno, std::system_category()}; }

inline double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

inline std::int64_t mtime_ns_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// Sends [offset, offset+count) of `file`, hashing each window from a read-only mapping
// (page cache, no copy) just before sendfile sends it (no copy through user space either).
void send_file_hashed(int sock, int file, std::uint64_t offset, std::uint64_t count, hasher& h,
                      const std::function<void(std::uint64_t)>& sent, std::error_code& ec);

void set_timeouts(int fd, int seconds);

/// True when the server's naming rule (split_safe_name) accepts `name`.
bool sendable_name(const std::string& name);

/// The ids of one batch of requests: `ranges` ranges of n ids each (range r, item i is
/// base + r*n + i: put uses base+i for item i, base+n+i for its resume stat, base+2n+i for
/// a directory's closing mkdir), and `spare` ids after them left unused.
class request_ids {
 public:
  request_ids(std::uint64_t& next_id, std::size_t n, std::size_t ranges, std::size_t spare = 0)
      : base_(next_id), n_(n) {
    next_id += n * ranges + spare;
  }
  std::uint64_t id(std::size_t range, std::size_t i) const noexcept {
    return base_ + range * n_ + i;
  }
  /// The item whose id in `range` is `id`, if it is one.
  std::optional<std::size_t> item(std::size_t range, std::uint64_t id) const noexcept {
    const std::uint64_t first = base_ + range * n_;
    if (id < first || id >= first + n_) return std::nullopt;
    return static_cast<std::size_t>(id - first);
  }

 private:
  std::uint64_t base_;
  std::size_t n_;
};

/// Indices of directories reordered so that the deepest come first (stable): a directory's
/// mode and mtime are set after its children's, since changing a child touches its parent.
template <class Depth>
void deepest_first(std::vector<std::size_t>& dirs, Depth depth) {
  std::stable_sort(dirs.begin(), dirs.end(),
                   [&](std::size_t a, std::size_t b) { return depth(a) > depth(b); });
}

// Running totals of a multi-file transfer, added to every progress report.
struct overall_counter {
  std::size_t files_total = 0;
  std::uint64_t bytes_total = 0;  // unknown_size when a stream of unknown size is part of it
  std::size_t files_done = 0;
  std::uint64_t bytes_done = 0;  // bytes of the finished files

  void add(std::uint64_t size) {
    ++files_total;
    if (size == unknown_size || bytes_total == unknown_size) {
      bytes_total = unknown_size;
    } else {
      bytes_total += size;
    }
  }
  void report(const progress_fn& fn, const std::string& name, std::uint64_t done,
              std::uint64_t total, std::size_t index, std::size_t count) const {
    if (!fn) return;
    bool complete = total != unknown_size && done >= total;
    fn({name, done, total, index, count, files_done + (complete ? 1 : 0), files_total,
        bytes_done + done, bytes_total});
  }
  void finished(std::uint64_t size) {
    ++files_done;
    bytes_done += size;
  }
};

std::string code_from_reply(const json& reply);
std::string message_from_reply(const json& reply);
// Errors of the byte stream itself (what the server sent cannot be parsed as frames).
bool is_stream_error(const std::error_code& ec);
/// The code a result gets for `ec`: the wire code (wire_error.hpp's table, so a local
/// failure reads as the server's would), except that a reply stream the client cannot parse
/// is "protocol_error" whichever framing rule it broke.
std::string result_code(const std::error_code& ec);
/// Marks `r` failed with `ec` unless it already has a code.
void fail_result(file_result& r, const std::error_code& ec);

// Replies echo the request's id; anything else (null, a string from a confused peer) is 0.
inline std::uint64_t id_of(const json& h) {
  auto it = h.find("id");
  return it != h.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

// The fields of a server's frame, checked. The server is a peer like any other: nlohmann's
// value() and get<>() throw type_error on a wrong type, and thrown past a running helper
// thread that was std::terminate (exit 134, partials in an unknown state). Each accessor
// gives the fallback when the field is absent (unless required) and records the first field
// that is missing or of the wrong type or range; ok() says whether the frame can be used.
class reply_fields {
 public:
  explicit reply_fields(const json& j) : j_(j) {}

  std::uint64_t u64(const char* key, std::uint64_t fallback, bool required = false,
                    std::uint64_t max = UINT64_MAX);
  std::int64_t i64(const char* key, std::int64_t fallback, bool required = false);
  std::string str(const char* key, std::string fallback = {}, bool required = false);
  /// Marks the frame unusable for a reason found by the caller (sizes that disagree...).
  void reject(std::string why) {
    if (why_.empty()) why_ = std::move(why);
  }
  bool ok() const noexcept { return why_.empty(); }
  /// "protocol error: <what>: a malformed \"mode\"" (or: no \"file_size\").
  std::string why(std::string_view what) const {
    return "protocol error: " + std::string(what) + ": " + why_;
  }

 private:
  const json* find(const char* key, bool required);
  template <class T>
  T bad(const char* key, T fallback) {
    reject(std::string("a malformed \"") + key + "\"");
    return fallback;
  }

  const json& j_;
  std::string why_;
};

// Joins a helper thread on every way out of a scope, exceptions included (a joinable
// std::thread destroyed is std::terminate). Shutting the socket first ends a send that a
// silent server would otherwise hold until the I/O timeout.
class thread_guard {
 public:
  thread_guard(std::thread& t, int fd) : t_(t), fd_(fd) {}
  thread_guard(const thread_guard&) = delete;
  thread_guard& operator=(const thread_guard&) = delete;
  ~thread_guard() { stop(); }
  /// Ends the connection (both ways) and joins: for giving up on a hostile server.
  void stop() {
    if (!t_.joinable()) return;
    ::shutdown(fd_, SHUT_RDWR);
    t_.join();
  }
  /// Waits for the thread to finish its work normally.
  void join() {
    if (t_.joinable()) t_.join();
  }

 private:
  std::thread& t_;
  int fd_;
};

// One connection: the socket, its frame reader and the next request id. The steps of put and
// get take it (transfer_client::impl is private to the public class; it is this).
struct connection {
  transfer_client_options opt;
  net::socket sock;
  codec::limits lim;
  std::unique_ptr<tls_pump> pump;  // with TLS: the connection is behind it (tls_pump.hpp)
  std::unique_ptr<blocking_frame_reader> reader;
  std::uint64_t next_id = 1;

  explicit connection(transfer_client_options o) : opt(o) {
    // File bodies stream to disk and may exceed 4 GiB; bodies held in memory (listings)
    // are checked against max_listing before they are read.
    lim.max_body = UINT64_MAX;
  }

  int fd() const { return pump ? pump->fd() : sock.native_handle(); }

  bool read_reply(codec::frame_header& h, std::error_code& ec) {
    return reader->read_header(h, ec);
  }
};

}  // namespace client_detail

struct transfer_client::impl : client_detail::connection {
  using connection::connection;
};

}  // namespace sockit::service
