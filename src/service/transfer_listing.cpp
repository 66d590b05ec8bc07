// transfer_listing: `ls` bodies in pieces. getdents64 + lseek to a record's d_off (what
// telldir/seekdir do) lets a level be left for a subdirectory and resumed after it without
// keeping its remaining entries, or a 32 KiB DIR buffer per level, in memory.
#include "sockit/service/transfer_listing.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include <nlohmann/json.hpp>

namespace sockit::service {

namespace {

constexpr std::size_t read_buffer = 16 * 1024;

std::atomic<std::size_t> open_levels_now{0};  // all listings of the process

std::int64_t mtime_ns_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

}  // namespace

void append_listing_entry(std::string& out, std::string_view name, const struct stat& st) {
  const char* type = S_ISREG(st.st_mode)   ? "file"
                     : S_ISDIR(st.st_mode) ? "dir"
                     : S_ISLNK(st.st_mode) ? "symlink"
                                           : "other";
  nlohmann::json entry{{"name", name},
                       {"type", type},
                       {"size", static_cast<std::uint64_t>(st.st_size)},
                       {"mode", st.st_mode & 07777},
                       {"mtime_ns", mtime_ns_of(st)}};
  out += entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += '\n';
}

std::size_t listing_descriptor_cap() noexcept {
  static const std::size_t cap = [] {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 4096ul;
    return std::max<std::size_t>(static_cast<std::size_t>(rl.rlim_cur) / 4, 1);
  }();
  return cap;
}

dir_listing::dir_listing(unique_fd dir, std::string prefix, bool recursive, limits lim)
    : buf_(read_buffer), recursive_(recursive), lim_(lim) {
  if (dir) levels_.push_back(level{std::move(dir), std::move(prefix), false});
}

dir_listing::~dir_listing() {
  while (!levels_.empty()) pop_level();
}

std::size_t dir_listing::open_levels() noexcept {
  return open_levels_now.load(std::memory_order_relaxed);
}

void dir_listing::pop_level() noexcept {
  if (levels_.back().counted) open_levels_now.fetch_sub(1, std::memory_order_relaxed);
  levels_.pop_back();
}

std::size_t dir_listing::next(std::string& out, std::size_t max_bytes) {
  std::size_t added = 0;
  while (!levels_.empty() && out.size() < max_bytes) {
    if (pos_ >= len_) {
      ssize_t n = ::getdents64(levels_.back().fd.get(), buf_.data(), buf_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {  // the end of this directory (or it failed: list what was read)
        pop_level();
        pos_ = len_ = 0;
        continue;
      }
      pos_ = 0;
      len_ = static_cast<std::size_t>(n);
    }
    const auto* d = reinterpret_cast<const struct dirent64*>(buf_.data() + pos_);
    pos_ += d->d_reclen;
    std::string_view n = d->d_name;
    if (n == "." || n == ".." || is_partial_name(n)) continue;
    if (count_ >= lim_.max_entries) {
      truncated_ = true;
      while (!levels_.empty()) pop_level();
      break;
    }
    level& here = levels_.back();
    struct stat st {};
    if (::fstatat(here.fd.get(), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    std::string full = here.path.empty() ? std::string(n) : here.path + "/" + std::string(n);
    append_listing_entry(out, full, st);
    ++count_;
    ++added;
    if (!recursive_ || !S_ISDIR(st.st_mode)) continue;
    if (levels_.size() >= lim_.max_depth) {
      truncated_ = true;
      continue;
    }
    if (open_levels_now.fetch_add(1, std::memory_order_relaxed) >= lim_.max_open_total) {
      open_levels_now.fetch_sub(1, std::memory_order_relaxed);
      truncated_ = true;  // all listings together hold their share of descriptors
      continue;
    }
    // O_NOFOLLOW: a directory swapped for a symlink since fstatat is not entered.
    int sub = ::openat(here.fd.get(), d->d_name,
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    bool entered = sub >= 0;  // else out of descriptors, or it changed: its subtree is missing
    // Come back to this level after the subdirectory, at the record after this one.
    if (entered && ::lseek(here.fd.get(), static_cast<off_t>(d->d_off), SEEK_SET) < 0) {
      ::close(sub);  // this level could not be resumed after it: not entered
      entered = false;
    }
    if (!entered) {
      open_levels_now.fetch_sub(1, std::memory_order_relaxed);
      truncated_ = true;
      continue;
    }
    pos_ = len_ = 0;
    levels_.push_back(level{unique_fd(sub), std::move(full), true});
  }
  return added;
}

}  // namespace sockit::service
