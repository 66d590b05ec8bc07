// server_state: what the files of the transfer server share (internal, not installed): the
// state of one running server (options, pools, claims, budget, counters), the types of an
// upload's life (busy_claim, made_dirs, upload, commit_batch) and the declarations of the
// coroutines each file defines. Who does what:
//   server.cpp   lifecycle: listener, stream_server hooks, a connection, hello and dispatch,
//                the partials' sweeper, the public transfer_server API;
//   upload.cpp   an upload's partial file, its checks and directories, and commit(): where a
//                received file is made durable and gets its name;
//   put.cpp      the native `put` request: header, body or data frames, trailer, refusals;
//   classic.cpp  the seeds' classic format;
//   queries.cpp  stat, get, ls, mkdir, and the query thread's sliced prefix hashing.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <asio/co_spawn.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "sockit/codec/frame.hpp"
#include "sockit/service/access_token.hpp"
#include "sockit/service/transfer_fs.hpp"
#include "sockit/service/transfer_hash.hpp"
#include "sockit/service/transfer_limits.hpp"
#include "sockit/service/transfer_server.hpp"
#include "sockit/session/deadline.hpp"
#include "sockit/session/frame_io.hpp"
#include "sockit/session/stream_server.hpp"
#include "sockit/session/tls_stream.hpp"

namespace sockit::service::transfer {

using session::stream_socket;
// Plaintext or TLS, chosen per connection in server.cpp; everything after that is the same.
using stream_type = session::maybe_tls<stream_socket>;
using reader_type = session::frame_reader<stream_type>;
using writer_type = session::frame_writer<stream_type>;
using json = nlohmann::json;

// A request header's fields, read without trusting their types: a field that is absent or
// of another type gives the fallback.
std::string str_field(const json& h, const char* key);
bool bool_field(const json& h, const char* key);
/// The request's id to echo back: any JSON scalar the client chose, or null.
json id_field(const json& h);
template <class T>
T num_field(const json& h, const char* key, T fallback) {
  auto it = h.find(key);
  if (it == h.end() || !it->is_number_integer()) return fallback;
  return it->get<T>();
}

/// An `error` frame for `ec` (its code from wire_error; the message ec's unless given).
json error_frame(const json& id, const std::error_code& ec, std::string message = {});

/// "a/b/c" from {"a", "b", "c"}.
std::string join(std::span<const std::string> parts);

struct server_state;

// Partials with an upload in progress (any loop): a second upload of one name gets "busy",
// and the sweep leaves them. Keys are a partial's path below DIR.
struct busy_names {
  std::mutex mu;
  std::set<std::string> names;
};

// RAII claim on a partial's path in busy_names (its directory's path + "/" + partial_name):
// the partial is what two uploads of one name would share, and what the sweep must leave.
class busy_claim {
 public:
  busy_claim() = default;
  busy_claim(const busy_claim&) = delete;
  busy_claim& operator=(const busy_claim&) = delete;
  ~busy_claim() { release(); }
  /// False if another upload holds `key`.
  bool claim(busy_names& names, std::string key);
  void release();

 private:
  busy_names* names_ = nullptr;
  std::string key_;
};

// Directories this connection created (relative paths): the only ones whose mode and mtime
// its `mkdir` may set; a directory that was there before is never changed by a peer.
// Bounded: past max_bytes of paths, new ones are not recorded (they then keep the times the
// server gave them).
struct made_dirs {
  static constexpr std::size_t max_bytes = 1 << 20;
  std::set<std::string> paths;
  std::size_t bytes = 0;
  void add(std::string p) {
    if (bytes + p.size() > max_bytes) return;
    bytes += p.size();
    paths.insert(std::move(p));
  }
  bool contains(const std::string& p) const { return paths.count(p) != 0; }
  void remove(const std::string& p) {
    if (paths.erase(p) != 0) bytes -= p.size();
  }
};

// One upload into a partial file (upload.cpp): open (checks), write pieces, verify and set
// its attributes; server_state::commit() then makes it durable and gives it its name.
struct upload {
  server_state& srv;
  const std::string& peer;
  std::string name;  // as validated, for events
  busy_claim claim;
  unique_fd parent, file;
  std::string base, partial;
  hasher hash;
  std::uint64_t offset = 0, written = 0;
  std::uint64_t disk_size = 0;  // size on disk: all-zero pieces are holes, not writes
  bool done = false;
  bool unnamed = false;                // an O_TMPFILE (small uploads), linked in by commit()
  bool linked = false;                 // stored under its name (commit)
  bool removed = false;                // the server deleted what this upload wrote
  bool reserved_space = false;         // fallocate'd past what is written
  bool skipped_zeros = false;          // zero runs left as holes (reserved blocks there)
  std::uint64_t charged = 0;           // taken from srv.budget (reservation + written)
  std::uint64_t dirs_charged = 0;      // taken from srv.budget for directories it creates
  std::uint64_t since_free_check = 0;  // streams: bytes since free space was last checked
  std::uint64_t resume_reserve = 0;
  bool settled = false;  // its budget is given back already (abandon)
  // The directories of its name, of which those from new_from on were created by it (none:
  // npos), and the connection's list they were added to: undone when it is refused.
  std::vector<std::string> dir_parts;
  std::size_t new_from = std::string::npos;
  made_dirs* made_list = nullptr;
  static constexpr std::uint64_t small_upload = 64 * 1024;
  static constexpr std::uint64_t free_check_every = 1 << 20;
  static constexpr std::uint64_t dir_block = 4096;     // what a new directory costs --max-disk
  static constexpr std::uint64_t max_off = INT64_MAX;  // the largest off_t

  upload(server_state& s, const std::string& p, hash_algorithm a) : srv(s), peer(p), hash(a) {}
  ~upload();
  upload(const upload&) = delete;
  upload& operator=(const upload&) = delete;

  /// Checks, then opens the partial (or an unnamed file); nothing is created unless every
  /// check passed. With start > 0 the caller then runs verify_prefix before any write.
  std::error_code open(const std::vector<std::string>& parts, std::uint64_t start,
                       std::uint64_t announced, bool overwrite, made_dirs* made);
  /// Resume: `prefix` hashes the partial's first `offset` bytes as they are now.
  std::error_code verify_prefix(const std::string& prefix_hash, const hasher& prefix);
  std::error_code write(std::string_view piece);
  /// After the whole body: checks its hash against `expected` (a mismatch removes a fresh
  /// upload's partial), then sets size, mode and mtime. It does not store the file: that is
  /// commit()'s fsync and rename.
  std::error_code verify_and_set_attrs(const std::string& expected, int mode,
                                       std::int64_t mtime_ns);
  /// Refused after open: removes what a fresh upload created, frees its name and budget.
  void abandon();
  /// Removes the (still empty) directories it created; on the disk pool or after a refusal.
  void remove_new_dirs() noexcept;
  /// A partial this server may resume or report (a regular file of its own, one name).
  static bool own_partial(const struct stat& st);

 private:
  void settle();
  void record_new_dirs(std::span<const std::string> dirs, std::size_t depth,
                       const std::vector<bool>& mine, made_dirs* made);
  bool leaves_min_free(int dir, std::uint64_t more);
  std::error_code reserve(std::uint64_t n);
};

// Verified uploads of one connection waiting to be made durable and renamed, with their
// replies. Pipelined small files are committed together: one syncfs (sync_files) for the
// batch instead of one fsync per file, and nothing is renamed before that. A batch is
// committed before any other reply is queued (replies stay in request order), before the
// connection waits for the network, and when it reaches max_files or max_bytes, or when
// max_batched uploads wait in batches across all connections.
struct commit_batch {
  static constexpr std::size_t max_files = 128;
  static constexpr std::uint64_t max_bytes = 64u << 20;
  struct item {
    std::unique_ptr<upload> up;
    json id;
    bool overwrite = false;
    std::string reply_name;
    std::error_code result;
  };
  std::vector<item> items;
  std::uint64_t bytes = 0;

  commit_batch(std::atomic<std::size_t>& everywhere, std::size_t cap)
      : everywhere_(everywhere), cap_(cap) {}
  commit_batch(const commit_batch&) = delete;
  commit_batch& operator=(const commit_batch&) = delete;
  ~commit_batch() { everywhere_.fetch_sub(items.size(), std::memory_order_relaxed); }

  /// Adds a verified upload; true when the batch should be committed now.
  bool add(item it) {
    bytes += it.up->offset + it.up->written;
    items.push_back(std::move(it));
    std::size_t all = everywhere_.fetch_add(1, std::memory_order_relaxed) + 1;
    return items.size() >= max_files || bytes >= max_bytes || all >= cap_;
  }
  void clear() {
    everywhere_.fetch_sub(items.size(), std::memory_order_relaxed);
    items.clear();
    bytes = 0;
  }

 private:
  std::atomic<std::size_t>& everywhere_;
  std::size_t cap_;
};

// One running server: what every connection shares, and the coroutines that serve them.
struct server_state {
  transfer_server_options opt;
  session::stream_server server;
  std::function<void(const transfer_event&)> callback;
  unique_fd root;

  // Blocking file work (fsync + rename of finished uploads, hashing a resumed prefix) runs
  // here, off the event loops, so one slow disk does not stall every connection on a loop.
  // A coroutine awaiting a job resumes on its own loop; the pending completion counts as
  // that loop's work, so stop() (which joins the loops) returns only after every job ended
  // and no connection state is destroyed under a running job. Destroyed after stop().
  // Queries (prefix hashes for stat, get and resume, as long as a file, and pieces of
  // listings, as long as a tree) have their own thread, so they never queue ahead of
  // commits and take at most one core whatever clients ask. Each job runs in slices
  // (hash_slice bytes, listing_piece bytes) and queues again behind the others' after each
  // one, so clients take turns (a 10 GiB prefix does not hold up a small one); each
  // connection has at most one job at a time (it awaits it); a job gives up when the server
  // stops or its peer is gone.
  asio::thread_pool disk{2};
  asio::thread_pool hashing{1};
  std::atomic<bool> stopping{false};

  // Backpressure: once a connection's unsent replies reach max_unsent bytes they are sent
  // before it reads another request, so a peer that pipelines requests and reads nothing
  // holds at most about this much (plus one listing piece) until the write deadline
  // (--body-timeout) drops it. Listings go out in pieces of about listing_piece bytes.
  static constexpr std::size_t max_unsent = 1u << 20;
  static constexpr std::size_t listing_piece = 256u * 1024;
  static constexpr std::uint64_t hash_slice = 4u << 20;

  // Uploads waiting in commit batches, all connections together: each holds two descriptors
  // (file, directory), so this bounds what batching may hold open; past it a connection
  // commits each file at once (an fsync each, as without batching). At most 2048, and at
  // most an eighth of the descriptor limit, so connections keep the rest.
  std::size_t max_batched = batch_cap();
  std::atomic<std::size_t> batched{0};
  static std::size_t batch_cap();

  busy_names busy;
  disk_budget budget;  // --max-disk
  std::int64_t started_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  mode_t peer_umask;    // masks every mode a peer asks for
  std::thread sweeper;  // expired partials (partial_ttl)
  std::mutex sweep_mu;
  std::condition_variable sweep_cv;
  bool sweep_stopped = false;
  std::atomic<bool> sweep_stop_flag{false};

  session::connection_count conns;
  std::atomic<std::uint64_t> rejected{0}, stored{0}, sent{0}, failed{0}, bytes_in{0}, bytes_out{0};

  // TLS: the context every connection's handshake uses (null: plaintext).
  std::shared_ptr<asio::ssl::context> tls;
  // Failed token attempts per address (access_token.hpp: the delay before each refusal).
  auth_failures token_failures;

  explicit server_state(transfer_server_options o);

  void emit(transfer_event::type what, const std::string& peer, std::string name = {},
            std::uint64_t bytes = 0, std::string detail = {}) {
    if (callback) callback(transfer_event{what, peer, std::move(name), bytes, std::move(detail)});
  }

  codec::limits limits() const;
  rate_floor body_rate() const { return rate_floor(opt.min_rate, opt.rate_window); }

  template <class F>
  asio::awaitable<void> on_disk(F f) {
    co_await on_pool(disk, std::move(f));
  }
  template <class F>
  asio::awaitable<void> on_hashing(F f) {
    co_await on_pool(hashing, std::move(f));
  }
  template <class F>
  static asio::awaitable<void> on_pool(asio::thread_pool& pool, F f) {
    co_await asio::co_spawn(
        pool.get_executor(),
        [f = std::move(f)]() mutable -> asio::awaitable<void> {
          f();
          co_return;
        },
        asio::use_awaitable);
  }

  // server.cpp: lifecycle, a connection, hello and dispatch.
  void open_listener();
  session::stream_server::hooks hooks();
  asio::awaitable<void> connection(stream_socket& sock);
  // hello's auth against opt.token: true to go on; false after the (delayed) refusal.
  asio::awaitable<bool> check_token(writer_type& w, const json& id, const json& hello,
                                    const std::string& peer);
  asio::awaitable<std::error_code> serve_guarded(stream_type& s, session::deadline& d,
                                                 const std::string& peer, commit_batch& pending,
                                                 made_dirs& made, std::string& failure);
  asio::awaitable<std::error_code> serve(stream_type& s, session::deadline& d,
                                         const std::string& peer, commit_batch& batch,
                                         made_dirs& made);
  asio::awaitable<std::error_code> native_session(reader_type& r, writer_type& w,
                                                  const std::string& peer, commit_batch& batch,
                                                  made_dirs& made);
  asio::awaitable<std::error_code> refuse(reader_type& r, writer_type& w, std::error_code ec);
  void sweep(bool report = true);
  void start_sweeper();
  void stop_sweeper();

  // upload.cpp: where verified uploads are stored, and how a failed one is counted.
  asio::awaitable<void> commit(commit_batch& b, writer_type* w, const std::string& peer);
  void count_failed(const std::string& peer, const std::string& name, std::uint64_t bytes,
                    std::string detail);

  // put.cpp: the native put.
  asio::awaitable<std::error_code> handle_put(reader_type& r, writer_type& w,
                                              const codec::frame_header& h, const json& id,
                                              const std::string& peer, commit_batch& batch,
                                              made_dirs& made);
  asio::awaitable<std::error_code> drain_put(reader_type& r, bool stream, rate_floor& rate);
  asio::awaitable<void> answer_error(writer_type& w, commit_batch& batch, const std::string& peer,
                                     const json& id, const std::error_code& ec,
                                     std::string message = {});
  asio::awaitable<void> refuse_put(writer_type& w, commit_batch& batch, const std::string& peer,
                                   const json& id, const std::string& name, std::uint64_t bytes,
                                   const std::error_code& ec, std::string detail = {},
                                   std::string message = {});
  asio::awaitable<std::error_code> too_slow(writer_type& w, const json& id, commit_batch& batch,
                                            const std::string& peer, const std::string& name);

  // classic.cpp
  asio::awaitable<std::error_code> classic_session(reader_type& r, const std::string& peer);

  // queries.cpp
  static bool peer_gone(int fd);
  asio::awaitable<std::error_code> hash_prefix(writer_type& w, int fd, std::uint64_t length,
                                               hasher& h);
  unique_fd open_parent_of(const std::string& name, std::string& base, std::error_code& ec);
  asio::awaitable<void> handle_stat(writer_type& w, const codec::frame_header& h, const json& id);
  asio::awaitable<std::error_code> handle_get(writer_type& w, const codec::frame_header& h,
                                              const json& id, const std::string& peer);
  asio::awaitable<std::error_code> handle_ls(writer_type& w, const codec::frame_header& h,
                                             const json& id, const std::string& peer);
  void handle_mkdir(writer_type& w, const codec::frame_header& h, const json& id, made_dirs& made);
  // Why the access mode refuses `op` (not put: handle_put drains a refused body), or empty.
  std::string access_refusal(std::string_view op) const;
  static asio::awaitable<std::error_code> relieve(writer_type& w);
};

}  // namespace sockit::service::transfer
