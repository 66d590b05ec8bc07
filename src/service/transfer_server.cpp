// transfer_server: on session::stream_server, one coroutine per connection (reader and writer
// in one, since replies follow requests in order), a watchdog for header/body deadlines.
// Uploads go to ".name.sockit-part" and are renamed only after size and hash match.
#include "sockit/service/transfer_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <span>
#include <thread>
#include <vector>

#include "sockit/codec/frame.hpp"
#include "sockit/net/error.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/service/transfer_fs.hpp"
#include "sockit/service/transfer_hash.hpp"
#include "sockit/service/transfer_limits.hpp"
#include "sockit/service/transfer_listing.hpp"
#include "sockit/session/deadline.hpp"
#include "sockit/session/frame_io.hpp"
#include "sockit/session/stream_server.hpp"

namespace sockit::service {
namespace {

using session::stream_socket;
using reader_type = session::frame_reader<stream_socket>;
using writer_type = session::frame_writer<stream_socket>;
using json = nlohmann::json;

constexpr const char* server_name = "sockit/0.1";

// The stable code string for an error, as docs/PROTOCOL.md lists them.
std::string code_of(const std::error_code& ec) {
  if (ec.category() == error_category()) {
    switch (static_cast<errc>(ec.value())) {
      case errc::frame_too_large:
        return "frame_too_large";
      case errc::bad_header:
        return "bad_header";
      case errc::header_too_deep:
        return "header_too_deep";
      case errc::body_too_large:
        return "too_large";
      case errc::hash_mismatch:
        return "hash_mismatch";
      case errc::unsafe_name:
        return "unsafe_name";
      case errc::too_many_connections:
        return "too_many_connections";
      case errc::timed_out:
        return "timed_out";
      case errc::bad_magic:
        return "bad_magic";
      case errc::unsupported_version:
        return "unsupported_version";
      case errc::name_exists:
        return "exists";
      case errc::name_busy:
        return "busy";
      case errc::not_found:
        return "not_found";
      case errc::no_space:
        return "no_space";
      case errc::protocol_error:
        return "protocol_error";
      case errc::not_regular_file:
        return "not_a_file";
      default:
        return "bad_request";
    }
  }
  if (ec == std::errc::no_such_file_or_directory) return "not_found";
  if (ec == std::errc::no_space_on_device) return "no_space";
  if (ec == std::errc::is_a_directory) return "is_directory";
  if (ec == std::errc::file_too_large) return "too_large";
  return "io_error";
}

json error_frame(const json& id, const std::error_code& ec, std::string message = {}) {
  if (message.empty()) message = ec.message();
  return json{{"op", "error"}, {"id", id}, {"code", code_of(ec)}, {"message", message}};
}

std::string str_field(const json& h, const char* key) {
  auto it = h.find(key);
  return it != h.end() && it->is_string() ? it->get<std::string>() : std::string();
}

template <class T>
T num_field(const json& h, const char* key, T fallback) {
  auto it = h.find(key);
  if (it == h.end() || !it->is_number_integer()) return fallback;
  return it->get<T>();
}

// The request's id to echo back: any JSON scalar the client chose, or null.
json id_field(const json& h) {
  if (!h.is_object()) return nullptr;
  auto it = h.find("id");
  return it != h.end() && !it->is_structured() ? *it : json(nullptr);
}

bool bool_field(const json& h, const char* key) {
  auto it = h.find(key);
  return it != h.end() && it->is_boolean() && it->get<bool>();
}

std::int64_t mtime_ns_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

}  // namespace

struct transfer_server::impl {
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

  static std::size_t batch_cap() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 2048;
    return std::clamp<std::size_t>(static_cast<std::size_t>(rl.rlim_cur) / 8, 1, 2048);
  }

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

  // True once the peer of socket `fd` is gone (reset, or closed with our replies unread;
  // on Unix sockets any close). A FIN alone is not "gone": shutdown(SHUT_WR) is how a client
  // says it has sent its last request and waits for the replies (docs/PROTOCOL.md 4).
  static bool peer_gone(int fd) {
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
  }

  // Hashes the first `length` bytes of `fd` into `h` on the query thread, hash_slice at a
  // time, each slice queued behind the other jobs; std::errc::operation_canceled when the
  // server stops or the peer of `w` is gone. Never on an event loop.
  asio::awaitable<std::error_code> hash_prefix(writer_type& w, int fd, std::uint64_t length,
                                               hasher& h) {
    std::error_code ec;
    int peer = w.stream().native_handle();
    co_await asio::co_spawn(
        hashing.get_executor(),
        [&, peer]() -> asio::awaitable<void> {
          for (std::uint64_t at = 0; at < length;) {
            if (stopping.load(std::memory_order_relaxed) || peer_gone(peer)) {
              ec = std::make_error_code(std::errc::operation_canceled);
              co_return;
            }
            std::uint64_t n = std::min(hash_slice, length - at);
            hash_file_range(fd, at, n, h, ec);
            if (ec) co_return;
            at += n;
            if (at < length) co_await asio::post(hashing.get_executor(), asio::use_awaitable);
          }
        },
        asio::use_awaitable);
    co_return ec;
  }

  // Partials with an upload in progress (any loop): a second upload of one name gets
  // "busy", and the sweep leaves them.
  std::mutex busy_mu;
  std::set<std::string> busy;

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

  explicit impl(transfer_server_options o)
      : opt(std::move(o)),
        server(opt.threads),
        budget(opt.max_disk),
        peer_umask(current_umask()),
        conns(opt.max_conns) {}

  void emit(transfer_event::type what, const std::string& peer, std::string name = {},
            std::uint64_t bytes = 0, std::string detail = {}) {
    if (callback) callback(transfer_event{what, peer, std::move(name), bytes, std::move(detail)});
  }

  codec::limits limits() const {
    codec::limits lim;
    lim.max_header = opt.max_header;
    lim.max_body = opt.max_file_size;  // file bodies; other ops never buffer a body
    return lim;
  }

  // RAII claim on a partial's path in `busy` (its directory's path + "/" + partial_name):
  // the partial is what two uploads of one name would share, and what the sweep must leave.
  struct busy_claim {
    impl* self = nullptr;
    std::string key;
    busy_claim() = default;
    busy_claim(const busy_claim&) = delete;
    busy_claim& operator=(const busy_claim&) = delete;
    bool claim(impl* s, std::string k) {
      std::lock_guard lock(s->busy_mu);
      if (!s->busy.insert(k).second) return false;
      self = s;
      key = std::move(k);
      return true;
    }
    void release() {
      if (!self) return;
      std::lock_guard lock(self->busy_mu);
      self->busy.erase(key);
      self = nullptr;
    }
    ~busy_claim() { release(); }
  };

  // Directories this connection created (relative paths): the only ones whose mode and
  // mtime its `mkdir` may set; a directory that was there before is never changed by a
  // peer. Bounded: past max_bytes of paths, new ones are not recorded (they then keep the
  // times the server gave them).
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

  static std::string join(std::span<const std::string> parts) {
    std::string out;
    for (const auto& p : parts) {
      if (!out.empty()) out += '/';
      out += p;
    }
    return out;
  }

  // One upload into a partial file: open (checks), write pieces, verify + promote.
  struct upload {
    impl& srv;
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

    upload(impl& s, const std::string& p, hash_algorithm a) : srv(s), peer(p), hash(a) {}
    ~upload() {
      // Interrupted (peer gone, deadline): the partial stays for --resume.
      bool left_partial = file && !done && !unnamed;
      if (left_partial) {
        if (reserved_space) release_reserved(file.get());
        srv.emit(transfer_event::type::partial, peer, name, offset + written);
      }
      settle();
    }

    // What stays on disk stays charged; reservations and deleted bytes go back.
    void settle() {
      if (settled) return;
      settled = true;
      bool kept = linked || (!unnamed && !removed && file);
      srv.budget.give_back(kept ? charged - std::min(charged, written) : charged);
    }

    // Records which of `dirs` (the first `depth` were there) make_dirs created, in the
    // connection's list too; the budget keeps 4 KiB for each of those only.
    void record_new_dirs(std::span<const std::string> dirs, std::size_t depth,
                         const std::vector<bool>& mine, made_dirs* made) {
      std::size_t count = 0;
      std::string path = join(dirs.first(depth));
      for (std::size_t i = 0; depth + i < dirs.size() && i < mine.size(); ++i) {
        path += path.empty() ? dirs[depth + i] : "/" + dirs[depth + i];
        if (!mine[i]) continue;
        if (new_from == std::string::npos) new_from = depth + i;
        ++count;
        if (made) made->add(path);
      }
      std::uint64_t keep = std::min(dirs_charged, count * dir_block);
      srv.budget.give_back(dirs_charged - keep);  // made by another in the meantime, or failed
      dirs_charged = keep;
      if (new_from == std::string::npos) return;
      dir_parts.assign(dirs.begin(), dirs.end());
      made_list = made;
    }

    // Removes the directories this upload created while they are empty (deepest first),
    // credits their blocks back and drops them from the connection's list, so its `mkdir`
    // never changes a directory someone else creates under that name later. Found again
    // from the root as they were made (no symlinks followed).
    void remove_new_dirs() noexcept {
      if (new_from == std::string::npos) return;
      std::span<const std::string> all(dir_parts);
      std::error_code ec;
      unique_fd at = open_dir_chain(srv.root.get(), all.first(new_from), false, 0, ec);
      std::size_t n = at ? remove_empty_dirs(at.get(), all.subspan(new_from)) : 0;
      std::uint64_t back = std::min(dirs_charged, n * dir_block);
      srv.budget.give_back(back);
      dirs_charged -= back;
      if (made_list) {
        for (std::size_t i = 0; i < n; ++i) made_list->remove(join(all.first(all.size() - i)));
      }
      new_from = std::string::npos;
    }

    // Refused after open (a bad hash, a limit or a full disk mid-body): a fresh upload's
    // partial and the directories it created go, with their budget; a resumed one keeps
    // its partial (the verified prefix and what came after it, which the next stat
    // reports). Its claim on the name goes too: what is left of its body is only drained.
    void abandon() {
      done = true;
      if (offset == 0 && !srv.opt.discard) {
        if (file && !unnamed && parent) ::unlinkat(parent.get(), partial.c_str(), 0);
        removed = true;
        file.reset();
        remove_new_dirs();
      } else if (file && reserved_space) {
        release_reserved(file.get());
      }
      settle();
      file.reset();
      parent.reset();
      claim.release();
    }

    // A partial this server may resume or report: a regular file of its own with no other
    // name (one linked from outside DIR is not DIR's to write or to describe).
    static bool own_partial(const struct stat& st) {
      return S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == ::geteuid();
    }

    // The free space an upload must leave where `dir` is.
    bool leaves_min_free(int dir, std::uint64_t more) {
      std::error_code ec;
      std::uint64_t size = 0;
      std::uint64_t avail = free_space(dir, ec, &size);
      if (ec) return true;  // not knowable (odd filesystem): the write itself reports ENOSPC
      std::uint64_t floor = min_free_for(size, srv.opt.min_free_bytes, srv.opt.min_free_fraction);
      return avail >= floor && avail - floor >= more;
    }

    // Checks, then opens the partial; every check (busy, exists, budget, free space, the
    // partial to resume) comes before anything is created, and a refusal after that
    // (fallocate: no space) removes what this call created. With start > 0 the caller then
    // verifies the prefix (verify_prefix, off the loop) before any byte is written.
    std::error_code open(const std::vector<std::string>& parts, std::uint64_t start,
                         std::uint64_t announced, bool overwrite, made_dirs* made) {
      std::error_code ec;
      // No file grows past what off_t addresses (fallocate's length would turn negative),
      // and sizes up there would make the budget arithmetic wrap: refused before anything.
      if (start > max_off || (announced != UINT64_MAX && announced > max_off - start)) {
        return errc::body_too_large;
      }
      std::span<const std::string> dirs(parts.data(), parts.size() - 1);
      base = parts.back();
      partial = partial_name(base);
      std::string dir_path = join(dirs);
      if (!claim.claim(&srv, dir_path.empty() ? partial : dir_path + "/" + partial)) {
        return errc::name_busy;
      }
      if (srv.opt.discard) return start == 0 ? std::error_code{} : errc::hash_mismatch;
      std::size_t depth = 0;
      unique_fd deepest = open_existing_dirs(srv.root.get(), dirs, depth, ec);
      if (ec) return ec;
      bool all_there = depth == dirs.size();
      struct stat st {};
      if (all_there && ::fstatat(deepest.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st.st_mode)) return std::make_error_code(std::errc::is_a_directory);
        if (!overwrite) return errc::name_exists;
      }
      if (start > 0) {
        // Resume: only onto a partial that is there; nothing is created for one that is not.
        if (!all_there) return errc::hash_mismatch;
        // Only a regular file is opened (a device's open can act, a FIFO's can block), and
        // only one of the server's own that has no other name: a hard link placed here to a
        // file outside DIR would otherwise be truncated and written.
        if (::fstatat(deepest.get(), partial.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
          return errno == ENOENT ? make_error_code(errc::hash_mismatch)
                                 : std::error_code(errno, std::system_category());
        }
        if (!S_ISREG(st.st_mode)) return errc::unsafe_name;
        file.reset(::openat(deepest.get(), partial.c_str(),
                            O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
        if (!file) {
          return errno == ENOENT  ? make_error_code(errc::hash_mismatch)
                 : errno == ELOOP ? make_error_code(errc::unsafe_name)
                                  : std::error_code(errno, std::system_category());
        }
        if (::fstat(file.get(), &st) != 0 || !own_partial(st)) {
          file.reset();
          return errc::unsafe_name;
        }
        if (static_cast<std::uint64_t>(st.st_size) < start) return errc::hash_mismatch;
      }
      std::uint64_t need = announced == UINT64_MAX ? 0 : announced;
      std::uint64_t dir_bytes = dir_block * (dirs.size() - depth);  // directories to create
      // Exactly what is taken is recorded, and only that is ever given back: a sum that
      // wrapped would take almost nothing and then give back the whole size.
      if (dir_bytes > UINT64_MAX - need || !srv.budget.take(need + dir_bytes)) {
        return errc::no_space;
      }
      charged = need;
      dirs_charged = dir_bytes;
      if (!leaves_min_free(deepest.get(), need + dir_bytes)) {
        srv.budget.give_back(need + dir_bytes);
        charged = dirs_charged = 0;
        return errc::no_space;
      }
      offset = start;
      disk_size = start;
      if (start > 0) {
        parent = std::move(deepest);
        resume_reserve = need;  // after verify_prefix's truncation, which would drop it
        return {};
      }

      // Every check passed: now the missing directories, then the file.
      std::span<const std::string> missing = dirs.subspan(depth);
      if (missing.empty()) {
        parent = std::move(deepest);
      } else {
        std::vector<bool> mine;
        parent = make_dirs(deepest.get(), missing, 0755, mine, ec);
        record_new_dirs(dirs, depth, mine, made);
        if (ec) {
          remove_new_dirs();
          return ec;
        }
      }
      auto undo = [&](std::error_code why) {
        if (!unnamed) ::unlinkat(parent.get(), partial.c_str(), 0);
        file.reset();
        parent.reset();
        removed = true;
        remove_new_dirs();
        return why;
      };
      if (announced <= small_upload) {
        // Small: an unnamed file, linked in under its name once verified and durable. One
        // directory entry instead of a partial's plus a rename (10,000-file uploads); an
        // interrupted one leaves nothing, which costs nothing to send again.
        std::error_code tec;
        file = open_unnamed(parent.get(), tec);
        if (file) {
          unnamed = true;
          if (auto rec = reserve(need)) return undo(rec);
          return {};
        }  // no O_TMPFILE on this filesystem: a named partial as for any other size
      }
      // A fresh partial is always a new file of the server's: whatever has its name (a stale
      // partial, or a hard link, device or symlink placed there) is unlinked, never opened
      // (a directory stays, and O_EXCL then refuses it).
      ::unlinkat(parent.get(), partial.c_str(), 0);
      file.reset(::openat(parent.get(), partial.c_str(),
                          O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!file) {
        std::error_code oec = errno == ELOOP || errno == EEXIST
                                  ? make_error_code(errc::unsafe_name)
                                  : std::error_code(errno, std::system_category());
        parent.reset();
        remove_new_dirs();
        return oec;
      }
      if (auto rec = reserve(need)) return undo(rec);
      return {};
    }

    // Space for the announced bytes, reserved now, so a full disk shows before the body.
    // Not for small uploads: a syscall per file would cost the many-small-files case more
    // than a block or two can fail it (the free-space check still ran).
    std::error_code reserve(std::uint64_t n) {
      std::error_code ec;
      if (n <= small_upload) return ec;
      reserve_space(file.get(), offset, n, ec);
      reserved_space = !ec && n > 0;
      return ec;
    }

    // Resume only onto a prefix whose hash the client has checked against its own: the
    // partial's bytes as they are now, read while this upload holds its name (a hash from
    // an earlier `stat` may describe bytes another writer has replaced since). Runs on the
    // disk pool; `prefix` is the hash of the partial's first `offset` bytes, read by
    // hash_prefix (sliced, fair and cancellable) after this upload took the name.
    std::error_code verify_prefix(const std::string& prefix_hash, const hasher& prefix) {
      hash = prefix;
      if (hash.hex() != prefix_hash) return errc::hash_mismatch;
      if (::ftruncate(file.get(), static_cast<off_t>(offset)) != 0) {
        return {errno, std::system_category()};
      }
      disk_size = offset;
      return reserve(resume_reserve);
    }

    std::error_code write(std::string_view piece) {
      std::error_code ec;
      std::uint64_t end = offset + written + piece.size();
      if (end > srv.opt.max_file_size || end > max_off) return errc::body_too_large;
      if (srv.opt.discard) {
        hash.update(piece);
        written += piece.size();
        srv.bytes_in.fetch_add(piece.size(), std::memory_order_relaxed);
        return {};
      }
      // Past what was announced (streams announce nothing): charge the budget as it comes,
      // and look at the free space every free_check_every bytes.
      std::uint64_t after = written + piece.size();
      if (after > charged) {
        if (!srv.budget.take(after - charged)) return errc::no_space;
        charged = after;
        since_free_check += piece.size();
        if (since_free_check >= free_check_every) {
          since_free_check = 0;
          if (!leaves_min_free(parent.get(), 0)) return errc::no_space;
        }
      }
      write_at(file.get(), piece, offset + written, true, ec);
      if (ec) return ec;
      if (!piece.empty() && (piece.front() != 0 || std::any_of(piece.begin(), piece.end(),
                                                               [](char c) { return c != 0; }))) {
        disk_size = offset + written + piece.size();
      } else {
        skipped_zeros = true;
      }
      hash.update(piece);
      written += piece.size();
      srv.bytes_in.fetch_add(piece.size(), std::memory_order_relaxed);
      return {};
    }

    // Verifies the hash; a mismatch is never promoted (the partial is removed, since it is
    // known bad). Then size, mode (masked: peer_file_mode) and mtime; the fsync and the
    // rename come in a batch (commit_batch), still before the file gets its final name.
    std::error_code finish(const std::string& expected, int mode, std::int64_t mtime_ns) {
      std::error_code ec;
      done = true;
      if (expected.empty() || hash.hex() != expected) {
        if (!srv.opt.discard) {
          if (!unnamed) ::unlinkat(parent.get(), partial.c_str(), 0);
          removed = true;
          remove_new_dirs();
        }
        return errc::hash_mismatch;
      }
      if (srv.opt.discard) return {};
      std::uint64_t size = offset + written;  // extended over trailing holes only if needed
      bool extend = size != disk_size;
      if (reserved_space && skipped_zeros) {
        // Zero runs were left as holes, but reserved: give those blocks back (at the final
        // size: past the end nothing can be punched), before the mtime is set.
        if (extend && ::ftruncate(file.get(), static_cast<off_t>(size)) != 0) {
          return {errno, std::system_category()};
        }
        extend = false;
        release_unwritten(file.get(), size);
      }
      set_file_attrs(file.get(), extend ? size : UINT64_MAX,
                     static_cast<int>(peer_file_mode(mode, srv.peer_umask)), mtime_ns, ec);
      return ec;  // on failure the verified partial stays, for --resume
    }
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

  // fsync (or syncfs) and rename every upload in the batch on the disk pool; then, back on
  // this connection's loop, events and replies in order. `w` may be null (classic: no
  // replies).
  asio::awaitable<void> commit(commit_batch& b, writer_type* w, const std::string& peer) {
    if (b.items.empty()) co_return;
    if (!opt.discard)
      co_await on_disk([&b] {
        std::vector<int> fds;
        for (auto& it : b.items) fds.push_back(it.up->file.get());
        auto synced = sync_files(fds);
        for (std::size_t i = 0; i < b.items.size(); ++i) {
          auto& it = b.items[i];
          auto& up = *it.up;
          it.result = synced[i];
          // Not durable (ENOSPC, EDQUOT, EIO): the verified partial stays for --resume (an
          // unnamed file has none: nothing of it stays).
          if (it.result) {
            if (up.unnamed) up.remove_new_dirs();
            continue;
          }
          if (up.unnamed) {
            link_unnamed(up.file.get(), up.parent.get(), up.base, it.result);
            // A stale partial of an earlier, larger attempt is obsolete now (this name is
            // claimed, so no other upload uses it); it is also the way to replace a file:
            // linked in as the partial, then renamed over the old one.
            ::unlinkat(up.parent.get(), up.partial.c_str(), 0);
            if (it.result == errc::name_exists && it.overwrite) {
              link_unnamed(up.file.get(), up.parent.get(), up.partial, it.result);
              if (!it.result) promote(up.parent.get(), up.partial, up.base, true, it.result);
              if (it.result) ::unlinkat(up.parent.get(), up.partial.c_str(), 0);
            }
          } else {
            promote(up.parent.get(), up.partial, up.base, it.overwrite, it.result);
          }
          if (!it.result) {
            up.linked = true;
          } else {
            if (!up.unnamed) ::unlinkat(up.parent.get(), up.partial.c_str(), 0);
            up.removed = true;
            up.remove_new_dirs();
          }
        }
      });
    for (auto& it : b.items) {
      auto& up = *it.up;
      std::uint64_t size = up.offset + up.written;
      if (it.result) {
        failed.fetch_add(1, std::memory_order_relaxed);
        emit(transfer_event::type::failed, peer, it.reply_name, up.written, code_of(it.result));
        if (w) w->queue(error_frame(it.id, it.result));
        continue;
      }
      stored.fetch_add(1, std::memory_order_relaxed);
      std::string digest = up.hash.hex();
      emit(transfer_event::type::stored, peer, it.reply_name, size,
           std::string(hash_name(up.hash.algorithm())) + " " + digest);
      if (w) {
        w->queue(json{{"op", "ok"},
                      {"id", it.id},
                      {"name", it.reply_name},
                      {"file_size", size},
                      {"hash", digest}});
      }
    }
    b.clear();
  }

  void open_listener() {
    std::error_code ec;
    std::string why;
    root = open_root_dir(opt.root, ec);
    if (ec) throw std::system_error(ec, "cannot open directory " + opt.root);
    server.listen(opt.endpoint);
  }

  session::stream_server::hooks hooks() {
    session::stream_server::hooks h;
    h.serve = [this](stream_socket& s, unsigned) { return connection(s); };
    h.admit = [this] { return conns.try_admit(); };
    h.max_per_address = opt.max_conns_per_ip;
    h.on_stop = [this](unsigned) { stopping.store(true, std::memory_order_relaxed); };
    h.refused = [this](stream_socket* sock, session::refusal why) {
      rejected.fetch_add(1, std::memory_order_relaxed);
      if (!sock) {
        emit(transfer_event::type::rejected, "unknown", {}, 0, "out of file descriptors");
        return;
      }
      // Best effort, never blocking the accept loop: say why; the server then closes it.
      bool mine = why == session::refusal::per_address;
      std::string f = codec::encode(error_frame(
          nullptr, errc::too_many_connections,
          mine ? "too many connections from your address" : "server is at its connection limit"));
      ::send(sock->native_handle(), f.data(), f.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      emit(transfer_event::type::rejected, session::peer_name(*sock), {}, 0,
           mine ? "too_many_connections: per address" : "too_many_connections");
    };
    return h;
  }

  asio::awaitable<void> connection(stream_socket& sock) {
    using namespace asio::experimental::awaitable_operators;
    std::string peer = session::peer_name(sock);
    std::string detail;
    emit(transfer_event::type::accepted, peer);
    session::deadline d;
    // Verified uploads whose fsync and rename are still to come. Owned here, outside the
    // race with the deadline, so that whatever ends serve() (a timeout, an error, a reset
    // peer, stop()) they are still stored below; only their replies are lost then.
    // Directories the connection created (for its mkdir); declared first, so it outlives the
    // uploads in `pending`, which drop what they remove from it.
    made_dirs made;
    commit_batch pending(batched, max_batched);
    std::string failure;
    try {
      auto v = co_await (serve_guarded(sock, d, peer, pending, made, failure) ||
                         session::watch_deadline(d));
      if (!failure.empty()) {
        detail = "internal error: " + failure;
      } else if (v.index() == 0) {
        auto ec = std::get<0>(v);
        if (ec && ec != asio::error::eof && ec != asio::error::operation_aborted)
          detail = code_of(ec) + ": " + ec.message();
      } else {
        detail = "timed_out: deadline passed";
      }
      co_await commit(pending, nullptr, peer);
    } catch (const std::exception& e) {
      // A bug or resource exhaustion on one connection must not take the server down.
      detail = std::string("internal error: ") + e.what();
    }
    std::error_code ignored;  // closed before "closed" is reported
    sock.shutdown(asio::socket_base::shutdown_both, ignored);
    sock.close(ignored);
    conns.release();
    emit(transfer_event::type::closed, peer, {}, 0, detail);
  }

  // serve() for the race with the watchdog. It never throws: `||` waits for a branch that
  // succeeds, so a throwing serve() would leave the connection to a watchdog that, with no
  // deadline set, never fires (and stop() would wait for it forever).
  asio::awaitable<std::error_code> serve_guarded(stream_socket& sock, session::deadline& d,
                                                 const std::string& peer, commit_batch& pending,
                                                 made_dirs& made, std::string& failure) {
    try {
      co_return co_await serve(sock, d, peer, pending, made);
    } catch (const std::system_error& e) {
      if (e.code() == asio::error::operation_aborted) co_return e.code();  // the deadline won
      failure = e.what();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    co_return make_error_code(std::errc::operation_canceled);
  }

  asio::awaitable<std::error_code> serve(stream_socket& sock, session::deadline& d,
                                         const std::string& peer, commit_batch& batch,
                                         made_dirs& made) {
    session::frame_timeouts t{opt.header_timeout, opt.body_timeout};
    reader_type r(sock, limits(), &d, t);
    writer_type w(sock, &d, opt.body_timeout);
    codec::format fmt{};
    if (auto ec = co_await r.read_opening(fmt)) {
      if (ec == errc::bad_magic) co_await w.write(error_frame(nullptr, ec));
      co_return ec;
    }
    if (fmt == codec::format::classic) co_return co_await classic_session(r, peer);
    co_return co_await native_session(r, w, peer, batch, made);
  }

  // The seeds' format: head, file bytes, head, file bytes, ... and no replies at all.
  asio::awaitable<std::error_code> classic_session(reader_type& r, const std::string& peer) {
    for (;;) {
      codec::frame_header h;
      if (auto ec = co_await r.read_header(h)) co_return ec;
      std::string shown = str_field(h.fields, "file_name");
      std::error_code ec;
      std::string base = classic_safe_name(shown, ec);
      std::string md5 = str_field(h.fields, "md5");
      for (char& c : md5) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto owned = std::make_unique<upload>(*this, peer, hash_algorithm::md5);
      upload& up = *owned;
      up.name = base;
      if (!ec && h.body_size > opt.max_file_size) ec = errc::body_too_large;
      if (!ec) ec = up.open({base}, 0, h.body_size, false, nullptr);
      rate_floor rate = body_rate();
      if (ec) {
        up.done = true;
        owned.reset();  // the name is free while the body is skipped (see handle_put)
        failed.fetch_add(1, std::memory_order_relaxed);
        emit(transfer_event::type::failed, peer, shown, h.body_size, code_of(ec));
        // Skipped, but under the same rate floor as a body that is kept.
        while (r.body_left() > 0) {
          auto [rec, piece] = co_await r.read_body();
          if (rec) co_return rec;
          if (!rate.add(piece.size())) co_return errc::timed_out;
        }
        continue;
      }
      while (r.body_left() > 0) {
        auto [rec, piece] = co_await r.read_body();
        if (rec) co_return rec;
        if (auto wec = up.write(piece)) {
          failed.fetch_add(1, std::memory_order_relaxed);
          emit(transfer_event::type::failed, peer, shown, up.written, code_of(wec));
          up.abandon();  // as a native refusal: no partial, no directories, budget given back
          co_return wec;
        }
        if (!rate.add(piece.size())) {
          emit(transfer_event::type::failed, peer, shown, up.written,
               "timed_out: below --min-rate");
          co_return errc::timed_out;
        }
      }
      // Without an md5 in the head only the size can be checked (it was: the body is exact).
      std::string expected = md5.empty() ? up.hash.hex() : md5;
      if (auto cec = up.finish(expected, -1, -1)) {
        failed.fetch_add(1, std::memory_order_relaxed);
        emit(transfer_event::type::failed, peer, shown, up.written, code_of(cec));
        continue;
      }
      commit_batch one(batched, max_batched);
      one.add({std::move(owned), nullptr, false, base, {}});
      co_await commit(one, nullptr, peer);
    }
  }

  asio::awaitable<std::error_code> native_session(reader_type& r, writer_type& w,
                                                  const std::string& peer, commit_batch& batch,
                                                  made_dirs& made) {
    codec::frame_header h;
    if (auto ec = co_await r.read_header(h)) co_return co_await refuse(r, w, ec);
    json id = id_field(h.fields);
    if (h.op() != "hello") {
      co_await w.write(error_frame(id, errc::protocol_error, "the first frame must be hello"));
      co_return errc::protocol_error;
    }
    bool common = num_field<int>(h.fields, "version", 0) == codec::protocol_version;
    if (auto it = h.fields.find("versions"); it != h.fields.end() && it->is_array()) {
      for (auto& v : *it)
        common |= v.is_number_integer() && v.get<int>() == codec::protocol_version;
    }
    if (!common) {
      json e = error_frame(id, errc::unsupported_version, "this server speaks version 1");
      e["versions"] = {codec::protocol_version};
      co_await w.write(e);
      co_return errc::unsupported_version;
    }
    if (auto it = h.fields.find("auth"); it != h.fields.end() && !it->is_null()) {
      json e{{"op", "error"},
             {"id", id},
             {"code", "auth_failed"},
             {"message", "this server has no authentication configured"}};
      co_await w.write(e);
      co_return errc::protocol_error;
    }
    w.queue(json{{"op", "hello"},
                 {"id", id},
                 {"version", codec::protocol_version},
                 {"server", server_name},
                 {"max_header", opt.max_header},
                 {"max_file_size", opt.max_file_size},
                 {"overwrite", opt.allow_overwrite},
                 {"auth", nullptr}});
    if (auto ec = co_await w.flush()) co_return ec;

    for (;;) {
      if (!r.has_buffered()) {
        co_await commit(batch, &w, peer);  // before waiting for more from the network
        if (auto ec = co_await w.flush()) co_return ec;
      }
      std::error_code ec = co_await r.read_header(h);
      if (ec) {
        co_await commit(batch, &w, peer);  // verified files are stored even if the rest fails
        if (ec == asio::error::eof) co_return co_await w.flush();
        co_return co_await refuse(r, w, ec);
      }
      id = id_field(h.fields);
      std::string_view op = h.op();
      if (op != "put") co_await commit(batch, &w, peer);  // replies stay in request order
      if (op == "put") {
        ec = co_await handle_put(r, w, h, id, peer, batch, made);
        if (ec) {
          co_await commit(batch, &w, peer);
          co_await w.flush();
          co_return ec;
        }
      } else if (op == "stat") {
        co_await handle_stat(w, h, id);
      } else if (op == "get") {
        ec = co_await handle_get(w, h, id, peer);
        if (ec) co_return ec;
      } else if (op == "ls") {
        ec = co_await handle_ls(w, h, id, peer);
        if (ec) co_return ec;
      } else if (op == "mkdir") {
        handle_mkdir(w, h, id, made);
      } else {
        w.queue(error_frame(id, errc::protocol_error,
                            "unknown or unexpected op '" + std::string(op) + "'"));
      }
      // Every kind of reply counts: a peer pipelining stats, gets or bad requests and
      // reading nothing is held at max_unsent as one asking for listings is.
      if (auto rec = co_await relieve(w)) co_return rec;
    }
  }

  // A frame that breaks the stream (too long, malformed, too deep): say why, then close.
  asio::awaitable<std::error_code> refuse(reader_type& r, writer_type& w, std::error_code ec) {
    if (ec.category() == error_category() && ec != errc::timed_out && ec != errc::protocol_error) {
      w.queue(error_frame(id_field(r.parser().header().fields), ec));
    }
    co_await w.flush();
    co_return ec;
  }

  // After a refused put, reads (and drops) what the client already sent for it, so the
  // connection stays in step: the body, data frames, the trailer; under the same rate floor
  // as a body that is kept.
  asio::awaitable<std::error_code> drain_put(reader_type& r, bool stream, rate_floor& rate) {
    codec::frame_header t;
    for (;;) {
      while (r.body_left() > 0) {
        auto [rec, piece] = co_await r.read_body();
        if (rec) co_return rec;
        if (!rate.add(piece.size())) co_return errc::timed_out;
      }
      if (auto ec = co_await r.read_header(t)) co_return ec;
      if (t.op() == "end") co_return std::error_code{};
      if (!stream || t.op() != "data") co_return errc::protocol_error;
    }
  }

  rate_floor body_rate() const { return rate_floor(opt.min_rate, opt.rate_window); }

  asio::awaitable<std::error_code> too_slow(writer_type& w, const json& id, commit_batch& batch,
                                            const std::string& peer, const std::string& name) {
    failed.fetch_add(1, std::memory_order_relaxed);
    emit(transfer_event::type::failed, peer, name, 0, "timed_out: below --min-rate");
    co_await commit(batch, &w, peer);
    w.queue(error_frame(id, errc::timed_out, "upload slower than the server's minimum rate"));
    co_return errc::timed_out;
  }

  asio::awaitable<std::error_code> handle_put(reader_type& r, writer_type& w,
                                              const codec::frame_header& h, const json& id,
                                              const std::string& peer, commit_batch& batch,
                                              made_dirs& made) {
    const json& f = h.fields;
    std::string name = str_field(f, "name");
    bool stream = !h.has_body;
    hash_algorithm algo = hash_algorithm::xxh3;
    std::error_code ec;
    if (f.contains("hash") && !parse_hash_name(str_field(f, "hash"), algo)) ec = errc::bad_header;
    auto offset = num_field<std::uint64_t>(f, "offset", 0);
    bool overwrite = bool_field(f, "overwrite") && opt.allow_overwrite;
    int mode = num_field<int>(f, "mode", -1);
    auto mtime_ns = num_field<std::int64_t>(f, "mtime_ns", -1);
    std::vector<std::string> parts;
    if (!ec) parts = split_safe_name(name, ec);
    std::uint64_t total = stream ? UINT64_MAX : offset + h.body_size;
    if (!ec && !stream && (total < offset || total > opt.max_file_size)) ec = errc::body_too_large;
    if (!ec && stream && offset != 0) ec = errc::bad_header;
    auto owned = std::make_unique<upload>(*this, peer, algo);
    upload& up = *owned;
    up.name = name;
    if (!ec) ec = up.open(parts, offset, stream ? UINT64_MAX : h.body_size, overwrite, &made);
    if (!ec && offset > 0) {
      // Never the hash `stat` cached: the partial may have been rewritten since.
      std::string prefix_hash = str_field(f, "prefix_hash");
      hasher prefix(algo);  // sliced, fair and cancellable, as for stat and get
      ec = co_await hash_prefix(w, up.file.get(), offset, prefix);
      if (!ec) co_await on_disk([&] { ec = up.verify_prefix(prefix_hash, prefix); });
    }
    rate_floor rate = body_rate();
    if (ec) {
      up.done = true;
      // Its claim on the name, its descriptors and its budget go before the body it will not
      // store is drained (at --min-rate that can take long): another upload of the name need
      // not wait for it.
      owned.reset();
      failed.fetch_add(1, std::memory_order_relaxed);
      emit(transfer_event::type::failed, peer, name, 0, code_of(ec));
      if (auto dec = co_await drain_put(r, stream, rate)) {
        if (dec == errc::timed_out) co_return co_await too_slow(w, id, batch, peer, name);
        co_return dec;
      }
      co_await commit(batch, &w, peer);
      w.queue(error_frame(id, ec));
      co_return std::error_code{};
    }
    // The body: one sized body, or data frames ended by an empty one.
    std::error_code werr;
    bool slow = false;
    auto consume_body = [&]() -> asio::awaitable<std::error_code> {
      while (r.body_left() > 0) {
        auto [rec, piece] = co_await r.read_body();
        if (rec) co_return rec;
        if (!werr && (werr = up.write(piece))) {
          up.abandon();  // nothing left behind, the name free; the rest is read to stay in step
        }
        if (!rate.add(piece.size())) {
          slow = true;
          co_return errc::timed_out;
        }
      }
      co_return std::error_code{};
    };
    if (!stream) {
      if (auto rec = co_await consume_body()) {
        if (slow) co_return co_await too_slow(w, id, batch, peer, name);
        co_return rec;
      }
    } else {
      codec::frame_header dh;
      for (;;) {
        if (auto rec = co_await r.read_header(dh)) co_return rec;
        if (dh.op() != "data") {
          co_await commit(batch, &w, peer);
          w.queue(error_frame(id, errc::protocol_error, "expected a data frame"));
          co_return errc::protocol_error;
        }
        if (!dh.has_body || dh.body_size == 0) break;
        if (auto rec = co_await consume_body()) {
          if (slow) co_return co_await too_slow(w, id, batch, peer, name);
          co_return rec;
        }
      }
    }
    codec::frame_header t;
    if (auto rec = co_await r.read_header(t)) co_return rec;
    if (t.op() != "end") {
      co_await commit(batch, &w, peer);
      w.queue(error_frame(id, errc::protocol_error, "expected the end trailer"));
      co_return errc::protocol_error;
    }
    if (werr) {
      // Refused mid-body (a limit, a full disk): abandoned as the error came (consume_body).
      failed.fetch_add(1, std::memory_order_relaxed);
      emit(transfer_event::type::failed, peer, name, up.written, code_of(werr));
      co_await commit(batch, &w, peer);
      w.queue(error_frame(id, werr));
      co_return std::error_code{};
    }
    if (auto cec = up.finish(str_field(t.fields, "hash"), mode, mtime_ns)) {
      failed.fetch_add(1, std::memory_order_relaxed);
      emit(transfer_event::type::failed, peer, name, up.written, code_of(cec));
      co_await commit(batch, &w, peer);
      w.queue(error_frame(id, cec));
      co_return std::error_code{};
    }
    if (batch.add({std::move(owned), id, overwrite, name, {}})) co_await commit(batch, &w, peer);
    co_return std::error_code{};
  }

  // Opens the parent of `name` (no creation) and returns the final component.
  unique_fd open_parent_of(const std::string& name, std::string& base, std::error_code& ec) {
    auto parts = split_safe_name(name, ec);
    if (ec) return {};
    base = parts.back();
    return open_dir_chain(root.get(), std::span<const std::string>(parts.data(), parts.size() - 1),
                          false, 0, ec);
  }

  asio::awaitable<void> handle_stat(writer_type& w, const codec::frame_header& h, const json& id) {
    const json& f = h.fields;
    std::string name = str_field(f, "name");
    hash_algorithm algo = hash_algorithm::xxh3;
    if (f.contains("hash") && !parse_hash_name(str_field(f, "hash"), algo)) {
      w.queue(error_frame(id, errc::bad_header, "unknown hash algorithm"));
      co_return;
    }
    std::string base;
    std::error_code ec;
    unique_fd parent = open_parent_of(name, base, ec);
    json reply{{"op", "stat"}, {"id", id}, {"name", name}, {"exists", false}, {"partial_size", 0}};
    if (ec == errc::unsafe_name) {
      w.queue(error_frame(id, ec));
      co_return;
    }
    if (!ec) {
      struct stat st {};
      if (::fstatat(parent.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        reply["exists"] = true;
        reply["file_size"] = static_cast<std::uint64_t>(st.st_size);
        reply["type"] = S_ISDIR(st.st_mode) ? "dir" : S_ISREG(st.st_mode) ? "file" : "other";
      }
      // Never a blocking open of a FIFO or any open of a device: only a regular partial.
      std::error_code pec;
      unique_fd pf = open_regular_file(parent.get(), partial_name(base), pec);
      if (pf && ::fstat(pf.get(), &st) == 0 && upload::own_partial(st) && st.st_size > 0) {
        hasher hs(algo);
        auto size = static_cast<std::uint64_t>(st.st_size);
        ec = co_await hash_prefix(w, pf.get(), size, hs);
        if (!ec) {
          reply["partial_size"] = size;
          reply["partial_hash"] = hs.hex();
          reply["hash"] = hash_name(algo);
        }
      }
    }
    w.queue(reply);
  }

  asio::awaitable<std::error_code> handle_get(writer_type& w, const codec::frame_header& h,
                                              const json& id, const std::string& peer) {
    const json& f = h.fields;
    std::string name = str_field(f, "name");
    hash_algorithm algo = hash_algorithm::xxh3;
    std::error_code ec;
    if (f.contains("hash") && !parse_hash_name(str_field(f, "hash"), algo)) ec = errc::bad_header;
    std::string base;
    unique_fd parent;
    if (!ec) parent = open_parent_of(name, base, ec);
    unique_fd file;
    struct stat st {};
    if (!ec) file = open_regular_file(parent.get(), base, ec);  // a FIFO: not_a_file, at once
    if (!ec && ::fstat(file.get(), &st) != 0) ec = {errno, std::system_category()};
    if (ec) {
      w.queue(error_frame(id, ec));
      co_return std::error_code{};
    }
    auto size = static_cast<std::uint64_t>(st.st_size);
    auto offset = num_field<std::uint64_t>(f, "offset", 0);
    hasher hs(algo);
    bool restarted = false;
    if (offset > 0) {
      // Continue only if the client's prefix is our prefix; otherwise start over.
      if (offset <= size) ec = co_await hash_prefix(w, file.get(), offset, hs);
      if (ec == std::errc::operation_canceled) co_return ec;  // the peer is gone
      if (offset > size || ec || hs.hex() != str_field(f, "prefix_hash")) {
        hs.reset();
        offset = 0;
        restarted = true;
      }
    }
    w.queue(json{{"op", "file"},
                 {"id", id},
                 {"name", name},
                 {"size", size - offset},
                 {"offset", offset},
                 {"file_size", size},
                 {"mode", st.st_mode & 07777},
                 {"mtime_ns", mtime_ns_of(st)},
                 {"hash", hash_name(algo)},
                 {"restarted", restarted}});
    // Hash each chunk (from the page cache) just before sendfile sends it.
    constexpr std::uint64_t chunk = 4u << 20;
    std::uint64_t at = offset;
    while (at < size) {
      std::uint64_t n = std::min(chunk, size - at);
      hash_file_range(file.get(), at, n, hs, ec);
      if (ec) co_return ec;  // the file changed under us: the body cannot be completed
      if (auto sec = co_await w.send_file(file.get(), at, n)) co_return sec;
      at += n;
      bytes_out.fetch_add(n, std::memory_order_relaxed);
    }
    w.queue(json{{"op", "end"}, {"id", id}, {"hash", hs.hex()}});
    sent.fetch_add(1, std::memory_order_relaxed);
    emit(transfer_event::type::sent, peer, name, size - offset);
    co_return std::error_code{};
  }

  // Sends what is queued once it reaches max_unsent (see there): the connection reads no
  // further request, and builds no further listing piece, until the peer has taken it.
  static asio::awaitable<std::error_code> relieve(writer_type& w) {
    if (w.queued() < max_unsent) co_return std::error_code{};
    co_return co_await w.flush();
  }

  // `ls`: the listing is built on the query thread one piece (about listing_piece bytes) at
  // a time, each sent as its own `ls` frame ("more": true on all but the last), so a huge
  // tree never sits in memory whole. Every listing opens its directory afresh: a handle
  // shared between listings (the root's) would keep its position from the last one.
  asio::awaitable<std::error_code> handle_ls(writer_type& w, const codec::frame_header& h,
                                             const json& id, const std::string& peer) {
    std::string path = str_field(h.fields, "path");
    bool recursive = bool_field(h.fields, "recursive");
    std::error_code ec;
    unique_fd dir;
    if (path.empty()) {
      dir.reset(::openat(root.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    } else {
      std::string base;
      unique_fd parent = open_parent_of(path, base, ec);
      struct stat st {};
      if (!ec && ::fstatat(parent.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        ec = errc::not_found;
      }
      if (ec) {
        w.queue(error_frame(id, ec == std::errc::no_such_file_or_directory
                                    ? make_error_code(errc::not_found)
                                    : ec));
        co_return std::error_code{};
      }
      if (!S_ISDIR(st.st_mode)) {
        std::string out;
        append_listing_entry(out, path, st);
        w.queue(
            json{{"op", "ls"}, {"id", id}, {"path", path}, {"entries", 1}, {"size", out.size()}},
            out);
        emit(transfer_event::type::listed, peer, path, 1);
        co_return std::error_code{};
      }
      dir.reset(::openat(parent.get(), base.c_str(),
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    }
    dir_listing listing(std::move(dir), path, recursive);  // a failed open lists nothing
    std::string piece;
    for (;;) {
      std::size_t n = 0;
      if (!listing.done()) co_await on_hashing([&] { n = listing.next(piece, listing_piece); });
      json head{{"op", "ls"}, {"id", id}, {"path", path}, {"entries", n}, {"size", piece.size()}};
      bool last = listing.done();
      if (!last) head["more"] = true;
      if (last && listing.truncated()) head["truncated"] = true;
      w.queue(head, piece);
      piece.clear();
      if (last) break;
      if (auto rec = co_await relieve(w)) co_return rec;
      if (stopping.load(std::memory_order_relaxed)) co_return asio::error::operation_aborted;
    }
    emit(transfer_event::type::listed, peer, path, listing.count());
    co_return std::error_code{};
  }

  // Creates what is missing (mode masked: peer_dir_mode). A directory that was there before
  // this connection is never changed; one it created (here or as an upload's parent) gets
  // the mode and mtime asked for: `put DIR` sets each directory's mtime after its files.
  void handle_mkdir(writer_type& w, const codec::frame_header& h, const json& id, made_dirs& made) {
    std::string name = str_field(h.fields, "name");
    std::error_code ec;
    auto parts = split_safe_name(name, ec);
    int mode = num_field<int>(h.fields, "mode", -1);
    auto mtime_ns = num_field<std::int64_t>(h.fields, "mtime_ns", -1);
    int applied = mode >= 0 ? static_cast<int>(peer_dir_mode(mode, peer_umask)) : -1;
    if (!ec) {
      std::size_t depth = 0;
      unique_fd deepest = open_existing_dirs(root.get(), parts, depth, ec);
      if (!ec && depth < parts.size()) {
        // New directories take blocks: from --max-disk, and not past --min-free.
        std::uint64_t dir_bytes = upload::dir_block * (parts.size() - depth);
        std::uint64_t fs_size = 0;
        std::uint64_t avail = free_space(deepest.get(), ec, &fs_size);
        std::uint64_t floor = min_free_for(fs_size, opt.min_free_bytes, opt.min_free_fraction);
        if (ec) {
          ec.clear();  // not knowable: mkdirat reports a full disk itself
        } else if (avail < floor || avail - floor < dir_bytes) {
          ec = errc::no_space;
        }
        if (!ec && !budget.take(dir_bytes)) ec = errc::no_space;
      }
      if (!ec && depth < parts.size()) {
        std::span<const std::string> missing = std::span<const std::string>(parts).subspan(depth);
        std::vector<bool> mine;
        unique_fd d = make_dirs(deepest.get(), missing, peer_dir_mode(mode, peer_umask), mine, ec);
        std::string path = join(std::span<const std::string>(parts).first(depth));
        for (std::size_t i = 0; i < missing.size() && i < mine.size(); ++i) {
          path += path.empty() ? missing[i] : "/" + missing[i];
          if (mine[i]) made.add(path);
        }
        if (!ec && !mine.empty() && mine.back()) finish_dir(d.get(), -1, mtime_ns, ec);
      } else if (!ec && made.contains(name)) {
        finish_dir(deepest.get(), applied, mtime_ns, ec);
      }
    }
    if (ec) {
      w.queue(error_frame(id, ec));
    } else {
      w.queue(json{{"op", "ok"}, {"id", id}, {"name", name}});
    }
  }

  // Expired partials: removed unless an upload holds them (its claim is on the same path).
  // The first sweep (start(), before `listening` is printed) reports nothing: the readiness
  // line stays the first line of output.
  void sweep(bool report = true) {
    if (opt.partial_ttl.count() <= 0 || opt.discard) return;
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto cutoff = std::chrono::duration_cast<std::chrono::nanoseconds>(now - opt.partial_ttl);
    sweep_partials(
        root.get(), cutoff.count(), 10'000'000, &busy_mu,
        [this](const std::string& rel) { return busy.count(rel) == 0; },
        [this, report](const std::string& rel, std::uint64_t size, std::int64_t mtime_ns) {
          // Charged only if written during this server's lifetime.
          if (mtime_ns >= started_ns) budget.give_back(size);
          if (report) emit(transfer_event::type::expired, "sweep", rel, size);
        },
        &sweep_stop_flag);
  }

  // After the first sweep (in start()), one every partial_ttl/4, at most hourly, on a
  // thread of its own: a walk of DIR is blocking file work that must not hold a loop.
  void start_sweeper() {
    if (opt.partial_ttl.count() <= 0 || opt.discard || sweeper.joinable()) return;
    auto every = std::clamp<std::chrono::milliseconds>(
        opt.partial_ttl / 4, std::chrono::milliseconds(100), std::chrono::hours(1));
    sweeper = std::thread([this, every] {
      std::unique_lock lock(sweep_mu);
      while (!sweep_cv.wait_for(lock, every, [this] { return sweep_stopped; })) {
        lock.unlock();
        sweep();
        lock.lock();
      }
    });
  }

  void stop_sweeper() {
    {
      std::lock_guard lock(sweep_mu);
      sweep_stopped = true;
    }
    sweep_stop_flag.store(true, std::memory_order_relaxed);
    sweep_cv.notify_all();
    if (sweeper.joinable()) sweeper.join();
  }
};

transfer_server::transfer_server(transfer_server_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {
  impl_->open_listener();
}

transfer_server::~transfer_server() { stop(); }

net::endpoint transfer_server::local_endpoint() const { return impl_->server.local_endpoint(); }

void transfer_server::on_event(std::function<void(const transfer_event&)> callback) {
  impl_->callback = std::move(callback);
}

void transfer_server::start() {
  impl_->sweep(false);  // before `listening`: what expired while the server was down is gone
  impl_->start_sweeper();
  impl_->server.start(impl_->hooks());
}

void transfer_server::stop() {
  impl_->server.stop();
  impl_->stop_sweeper();
}

transfer_stats transfer_server::stats() const {
  auto& i = *impl_;
  constexpr auto r = std::memory_order_relaxed;
  return transfer_stats{i.conns.accepted(), i.rejected.load(r), i.conns.active(),
                        i.stored.load(r),   i.sent.load(r),     i.failed.load(r),
                        i.bytes_in.load(r), i.bytes_out.load(r)};
}

}  // namespace sockit::service
