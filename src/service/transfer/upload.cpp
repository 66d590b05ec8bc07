// upload: an upload's life on disk, from the checks before anything is created, through the
// partial file (".name.sockit-part", or an unnamed O_TMPFILE for small ones) and its verified
// hash, to commit(): the one place a received file is made durable (fsync or syncfs) and
// gets its name (link or rename). A refusal removes what a fresh upload created.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "server_state.hpp"
#include "sockit/net/error.hpp"
#include "wire_error.hpp"

namespace sockit::service::transfer {

bool busy_claim::claim(busy_names& names, std::string key) {
  std::lock_guard lock(names.mu);
  if (!names.names.insert(key).second) return false;
  names_ = &names;
  key_ = std::move(key);
  return true;
}

void busy_claim::release() {
  if (!names_) return;
  std::lock_guard lock(names_->mu);
  names_->names.erase(key_);
  names_ = nullptr;
}

upload::~upload() {
  // Interrupted (peer gone, deadline): the partial stays for --resume.
  bool left_partial = file && !done && !unnamed;
  if (left_partial) {
    if (reserved_space) release_reserved(file.get());
    srv.emit(transfer_event::type::partial, peer, name, offset + written);
  }
  settle();
}

// What stays on disk stays charged; reservations and deleted bytes go back.
void upload::settle() {
  if (settled) return;
  settled = true;
  bool kept = linked || (!unnamed && !removed && file);
  srv.budget.give_back(kept ? charged - std::min(charged, written) : charged);
}

// Records which of `dirs` (the first `depth` were there) make_dirs created, in the
// connection's list too; the budget keeps 4 KiB for each of those only.
void upload::record_new_dirs(std::span<const std::string> dirs, std::size_t depth,
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
void upload::remove_new_dirs() noexcept {
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
void upload::abandon() {
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
bool upload::own_partial(const struct stat& st) {
  return S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == ::geteuid();
}

// The free space an upload must leave where `dir` is.
bool upload::leaves_min_free(int dir, std::uint64_t more) {
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
std::error_code upload::open(const std::vector<std::string>& parts, std::uint64_t start,
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
  if (!claim.claim(srv.busy, dir_path.empty() ? partial : dir_path + "/" + partial)) {
    return transfer_errc::name_busy;
  }
  if (srv.opt.discard) return start == 0 ? std::error_code{} : transfer_errc::hash_mismatch;
  std::size_t depth = 0;
  unique_fd deepest = open_existing_dirs(srv.root.get(), dirs, depth, ec);
  if (ec) return ec;
  bool all_there = depth == dirs.size();
  struct stat st {};
  if (all_there && ::fstatat(deepest.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) return std::make_error_code(std::errc::is_a_directory);
    if (!overwrite) return transfer_errc::name_exists;
  }
  if (start > 0) {
    // Resume: only onto a partial that is there; nothing is created for one that is not.
    if (!all_there) return transfer_errc::hash_mismatch;
    // Only a regular file is opened (a device's open can act, a FIFO's can block), and
    // only one of the server's own that has no other name: a hard link placed here to a
    // file outside DIR would otherwise be truncated and written.
    if (::fstatat(deepest.get(), partial.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return errno == ENOENT ? make_error_code(transfer_errc::hash_mismatch)
                             : std::error_code(errno, std::system_category());
    }
    if (!S_ISREG(st.st_mode)) return transfer_errc::unsafe_name;
    file.reset(::openat(deepest.get(), partial.c_str(),
                        O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
    if (!file) {
      return errno == ENOENT  ? make_error_code(transfer_errc::hash_mismatch)
             : errno == ELOOP ? make_error_code(transfer_errc::unsafe_name)
                              : std::error_code(errno, std::system_category());
    }
    if (::fstat(file.get(), &st) != 0 || !own_partial(st)) {
      file.reset();
      return transfer_errc::unsafe_name;
    }
    if (static_cast<std::uint64_t>(st.st_size) < start) return transfer_errc::hash_mismatch;
  }
  std::uint64_t need = announced == UINT64_MAX ? 0 : announced;
  std::uint64_t dir_bytes = dir_block * (dirs.size() - depth);  // directories to create
  // Exactly what is taken is recorded, and only that is ever given back: a sum that
  // wrapped would take almost nothing and then give back the whole size.
  if (dir_bytes > UINT64_MAX - need || !srv.budget.take(need + dir_bytes)) {
    return transfer_errc::no_space;
  }
  charged = need;
  dirs_charged = dir_bytes;
  if (!leaves_min_free(deepest.get(), need + dir_bytes)) {
    srv.budget.give_back(need + dir_bytes);
    charged = dirs_charged = 0;
    return transfer_errc::no_space;
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
                              ? make_error_code(transfer_errc::unsafe_name)
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
std::error_code upload::reserve(std::uint64_t n) {
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
std::error_code upload::verify_prefix(const std::string& prefix_hash, const hasher& prefix) {
  hash = prefix;
  if (hash.hex() != prefix_hash) return transfer_errc::hash_mismatch;
  if (::ftruncate(file.get(), static_cast<off_t>(offset)) != 0) {
    return {errno, std::system_category()};
  }
  disk_size = offset;
  return reserve(resume_reserve);
}

std::error_code upload::write(std::string_view piece) {
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
    if (!srv.budget.take(after - charged)) return transfer_errc::no_space;
    charged = after;
    since_free_check += piece.size();
    if (since_free_check >= free_check_every) {
      since_free_check = 0;
      if (!leaves_min_free(parent.get(), 0)) return transfer_errc::no_space;
    }
  }
  write_at(file.get(), piece, offset + written, true, ec);
  if (ec) return ec;
  if (!piece.empty() && (piece.front() != 0 ||
                         std::any_of(piece.begin(), piece.end(), [](char c) { return c != 0; }))) {
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
std::error_code upload::verify_and_set_attrs(const std::string& expected, int mode,
                                             std::int64_t mtime_ns) {
  std::error_code ec;
  done = true;
  if (expected.empty() || hash.hex() != expected) {
    if (!srv.opt.discard) {
      if (!unnamed) ::unlinkat(parent.get(), partial.c_str(), 0);
      removed = true;
      remove_new_dirs();
    }
    return transfer_errc::hash_mismatch;
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

// fsync (or syncfs) and rename every upload in the batch on the disk pool; then, back on
// this connection's loop, events and replies in order. `w` may be null (classic: no
// replies).
asio::awaitable<void> server_state::commit(commit_batch& b, writer_type* w,
                                           const std::string& peer) {
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
          if (it.result == transfer_errc::name_exists && it.overwrite) {
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
      count_failed(peer, it.reply_name, up.written, std::string(wire_code(it.result)));
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

// The one place a failed upload is counted and reported (a `failed` event; detail is its
// wire code, or why it failed).
void server_state::count_failed(const std::string& peer, const std::string& name,
                                std::uint64_t bytes, std::string detail) {
  failed.fetch_add(1, std::memory_order_relaxed);
  emit(transfer_event::type::failed, peer, name, bytes, std::move(detail));
}

}  // namespace sockit::service::transfer
