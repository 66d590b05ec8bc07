// The transfer server's queries (docs/PROTOCOL.md section 4): stat, get, ls and mkdir, the
// query thread's sliced and cancellable prefix hashing they and resumed puts share, and the
// backpressure step (relieve) every reply goes through.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <asio/post.hpp>

#include "server_state.hpp"
#include "sockit/net/error.hpp"
#include "sockit/service/transfer_listing.hpp"

namespace sockit::service::transfer {
namespace {

std::int64_t mtime_ns_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

}  // namespace

// True once the peer of socket `fd` is gone (reset, or closed with our replies unread;
// on Unix sockets any close). A FIN alone is not "gone": shutdown(SHUT_WR) is how a client
// says it has sent its last request and waits for the replies (docs/PROTOCOL.md 4).
bool server_state::peer_gone(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
}

// Hashes the first `length` bytes of `fd` into `h` on the query thread, hash_slice at a
// time, each slice queued behind the other jobs; std::errc::operation_canceled when the
// server stops or the peer of `w` is gone. Never on an event loop.
asio::awaitable<std::error_code> server_state::hash_prefix(writer_type& w, int fd,
                                                           std::uint64_t length, hasher& h) {
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

// Opens the parent of `name` (no creation) and returns the final component.
unique_fd server_state::open_parent_of(const std::string& name, std::string& base,
                                       std::error_code& ec) {
  auto parts = split_safe_name(name, ec);
  if (ec) return {};
  base = parts.back();
  return open_dir_chain(root.get(), std::span<const std::string>(parts.data(), parts.size() - 1),
                        false, 0, ec);
}

asio::awaitable<void> server_state::handle_stat(writer_type& w, const codec::frame_header& h,
                                                const json& id) {
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
  if (ec == transfer_errc::unsafe_name) {
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

asio::awaitable<std::error_code> server_state::handle_get(writer_type& w,
                                                          const codec::frame_header& h,
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
asio::awaitable<std::error_code> server_state::relieve(writer_type& w) {
  if (w.queued() < max_unsent) co_return std::error_code{};
  co_return co_await w.flush();
}

// `ls`: the listing is built on the query thread one piece (about listing_piece bytes) at
// a time, each sent as its own `ls` frame ("more": true on all but the last), so a huge
// tree never sits in memory whole. Every listing opens its directory afresh: a handle
// shared between listings (the root's) would keep its position from the last one.
asio::awaitable<std::error_code> server_state::handle_ls(writer_type& w,
                                                         const codec::frame_header& h,
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
      ec = transfer_errc::not_found;
    }
    if (ec) {
      w.queue(error_frame(id, ec == std::errc::no_such_file_or_directory
                                  ? make_error_code(transfer_errc::not_found)
                                  : ec));
      co_return std::error_code{};
    }
    if (!S_ISDIR(st.st_mode)) {
      std::string out;
      append_listing_entry(out, path, st);
      w.queue(json{{"op", "ls"}, {"id", id}, {"path", path}, {"entries", 1}, {"size", out.size()}},
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
void server_state::handle_mkdir(writer_type& w, const codec::frame_header& h, const json& id,
                                made_dirs& made) {
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
        ec = transfer_errc::no_space;
      }
      if (!ec && !budget.take(dir_bytes)) ec = transfer_errc::no_space;
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

}  // namespace sockit::service::transfer
