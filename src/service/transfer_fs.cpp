// transfer_fs: *at() file operations that never follow symlinks (the names they take are
// checked by transfer_names.cpp first).
#include "sockit/service/transfer_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include "sockit/net/error.hpp"

namespace sockit::service {
namespace {

std::error_code last_error() { return {errno, std::system_category()}; }

}  // namespace

unique_fd open_root_dir(const std::string& path, std::error_code& ec) {
  ec.clear();
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) ec = last_error();
  return fd;
}

unique_fd open_dir_chain(int root, std::span<const std::string> dirs, bool create, mode_t mode,
                         std::error_code& ec) {
  // The directories that exist, then (when asked) the rest made: the same two walks the
  // server uses when it must know which directories an upload made.
  std::size_t depth = 0;
  unique_fd cur = open_existing_dirs(root, dirs, depth, ec);
  if (ec || depth == dirs.size()) return cur;
  if (!create) {
    ec = std::make_error_code(std::errc::no_such_file_or_directory);
    return {};
  }
  std::vector<bool> made;
  return make_dirs(cur.get(), dirs.subspan(depth), mode, made, ec);
}

unique_fd open_existing_dirs(int root, std::span<const std::string> dirs, std::size_t& depth,
                             std::error_code& ec) {
  ec.clear();
  depth = 0;
  unique_fd cur(::fcntl(root, F_DUPFD_CLOEXEC, 0));
  if (!cur) {
    ec = last_error();
    return {};
  }
  for (const auto& d : dirs) {
    int next = ::openat(cur.get(), d.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT) return cur;
    if (next < 0) {
      ec = (errno == ELOOP || errno == ENOTDIR) ? make_error_code(transfer_errc::unsafe_name)
                                                : last_error();
      return {};
    }
    cur.reset(next);
    ++depth;
  }
  return cur;
}

unique_fd make_dirs(int at, std::span<const std::string> dirs, mode_t mode, std::vector<bool>& made,
                    std::error_code& ec) {
  ec.clear();
  made.assign(dirs.size(), false);
  unique_fd cur(::fcntl(at, F_DUPFD_CLOEXEC, 0));
  if (!cur) {
    ec = last_error();
    return {};
  }
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    if (::mkdirat(cur.get(), dirs[i].c_str(), mode) == 0) {
      made[i] = true;
    } else if (errno != EEXIST) {
      ec = last_error();
      return {};
    }
    int next =
        ::openat(cur.get(), dirs[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      ec = (errno == ELOOP || errno == ENOTDIR) ? make_error_code(transfer_errc::unsafe_name)
                                                : last_error();
      return {};
    }
    cur.reset(next);
  }
  return cur;
}

std::size_t remove_empty_dirs(int at, std::span<const std::string> dirs) noexcept {
  if (dirs.empty()) return 0;
  // The parents of each, opened as make_dirs did, so the rmdir happens where it made them.
  std::vector<unique_fd> parents;
  parents.emplace_back(::fcntl(at, F_DUPFD_CLOEXEC, 0));
  for (std::size_t i = 0; i + 1 < dirs.size() && parents.back(); ++i) {
    parents.emplace_back(::openat(parents.back().get(), dirs[i].c_str(),
                                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }
  // Only a full chain of parents: a gap would leave the deepest ones unreached.
  if (parents.size() < dirs.size()) return 0;
  std::size_t removed = 0;
  for (std::size_t i = parents.size(); i-- > 0; ++removed) {
    if (!parents[i] || ::unlinkat(parents[i].get(), dirs[i].c_str(), AT_REMOVEDIR) != 0) break;
  }
  return removed;
}

void write_at(int fd, std::string_view data, std::uint64_t offset, bool sparse,
              std::error_code& ec) {
  ec.clear();
  if (sparse && !data.empty() && data.front() == 0 &&
      std::all_of(data.begin(), data.end(), [](char c) { return c == 0; })) {
    return;  // a hole reads back as zeros once the file is extended to its size
  }
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ec = last_error();
      return;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
}

namespace {

bool set_mtime(int fd, std::int64_t mtime_ns) {
  if (mtime_ns < 0) return true;
  timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  times[1].tv_sec = static_cast<time_t>(mtime_ns / 1000000000);
  times[1].tv_nsec = static_cast<long>(mtime_ns % 1000000000);
  return ::futimens(fd, times) == 0;
}

}  // namespace

void set_file_attrs(int fd, std::uint64_t size, int mode, std::int64_t mtime_ns,
                    std::error_code& ec) {
  ec.clear();
  if ((size != UINT64_MAX && ::ftruncate(fd, static_cast<off_t>(size)) != 0) ||
      (mode >= 0 && ::fchmod(fd, static_cast<mode_t>(mode) & 07777 & ~06000) != 0) ||
      !set_mtime(fd, mtime_ns)) {
    ec = last_error();
  }
}

void finish_file(int fd, std::uint64_t size, int mode, std::int64_t mtime_ns, std::error_code& ec) {
  set_file_attrs(fd, size, mode, mtime_ns, ec);
  if (!ec && ::fsync(fd) != 0) ec = last_error();
}

unique_fd open_unnamed(int dir, std::error_code& ec) {
  ec.clear();
  unique_fd fd(::openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd) ec = last_error();
  return fd;
}

void link_unnamed(int fd, int dir, const std::string& name, std::error_code& ec) {
  ec.clear();
  // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH on older kernels; /proc/self/fd works for anyone.
  if (::linkat(fd, "", dir, name.c_str(), AT_EMPTY_PATH) == 0) return;
  if (errno != EEXIST) {
    std::string self = "/proc/self/fd/" + std::to_string(fd);
    if (::linkat(AT_FDCWD, self.c_str(), dir, name.c_str(), AT_SYMLINK_FOLLOW) == 0) return;
  }
  ec = errno == EEXIST ? make_error_code(transfer_errc::name_exists) : last_error();
}

std::vector<std::error_code> sync_files(std::span<const int> fds) {
  std::vector<std::error_code> out(fds.size());
  if (fds.size() == 1) {
    if (::fsync(fds[0]) != 0) out[0] = last_error();
    return out;
  }
  // syncfs writes back the whole filesystem and (Linux >= 5.8) reports a writeback error
  // that happened since this descriptor was opened, so it covers every file on that device.
  // A subdirectory may be another mount: one syncfs per device, through the first file of
  // that device in `fds` (callers pass them in the order they were opened, so its error
  // window starts earliest); fsync each file if syncfs fails.
  std::vector<std::pair<dev_t, std::error_code>> devices;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    struct stat st {};
    if (::fstat(fds[i], &st) != 0) {
      out[i] = last_error();
      continue;
    }
    auto it = std::find_if(devices.begin(), devices.end(),
                           [&](const auto& d) { return d.first == st.st_dev; });
    if (it == devices.end()) {
      std::error_code ec;
      if (::syncfs(fds[i]) != 0) ec = last_error();
      devices.emplace_back(st.st_dev, ec);
      it = devices.end() - 1;
    }
    if (it->second && ::fsync(fds[i]) != 0) out[i] = last_error();
  }
  return out;
}

void finish_dir(int fd, int mode, std::int64_t mtime_ns, std::error_code& ec) {
  ec.clear();
  if ((mode >= 0 && ::fchmod(fd, (static_cast<mode_t>(mode) & 0777) | 0700) != 0) ||
      !set_mtime(fd, mtime_ns)) {
    ec = last_error();
  }
}

void promote(int dir, const std::string& from, const std::string& to, bool overwrite,
             std::error_code& ec) {
  ec.clear();
  int r = overwrite ? ::renameat(dir, from.c_str(), dir, to.c_str())
                    : ::renameat2(dir, from.c_str(), dir, to.c_str(), RENAME_NOREPLACE);
  if (r != 0) {
    ec = errno == EEXIST ? make_error_code(transfer_errc::name_exists) : last_error();
    return;
  }
  // The directory is not fsynced per file: the data was (finish_file), so after a crash the
  // file is either complete under its name or still a partial, never wrong; and one fsync per
  // small file made 10,000-file uploads 2x slower.
  (void)dir;
}

std::uint64_t free_space(int dir, std::error_code& ec, std::uint64_t* size) {
  ec.clear();
  struct statvfs st {};
  if (::fstatvfs(dir, &st) != 0) {
    ec = last_error();
    return 0;
  }
  if (size) *size = static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

namespace {
std::error_code not_regular(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return std::make_error_code(std::errc::is_a_directory);
  if (S_ISLNK(st.st_mode)) return transfer_errc::unsafe_name;
  return transfer_errc::not_regular_file;
}
}  // namespace

unique_fd open_regular_file(int dir, const std::string& name, std::error_code& ec) {
  ec.clear();
  struct stat before {};
  if (::fstatat(dir, name.c_str(), &before, AT_SYMLINK_NOFOLLOW) != 0) {
    ec = errno == ENOENT ? make_error_code(transfer_errc::not_found) : last_error();
    return {};
  }
  if (!S_ISREG(before.st_mode)) {
    ec = not_regular(before);
    return {};
  }
  unique_fd fd(
      ::openat(dir, name.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
  if (!fd) {
    ec = errno == ELOOP    ? make_error_code(transfer_errc::unsafe_name)
         : errno == ENOENT ? make_error_code(transfer_errc::not_found)
                           : last_error();
    return {};
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    ec = last_error();
    return {};
  }
  if (!S_ISREG(st.st_mode)) {
    ec = not_regular(st);
    return {};
  }
  return fd;
}

void reserve_space(int fd, std::uint64_t offset, std::uint64_t length, std::error_code& ec) {
  ec.clear();
  if (length == 0) return;
  int r;
  do {
    r = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(length));
  } while (r != 0 && errno == EINTR);
  if (r == 0 || errno == EOPNOTSUPP || errno == ENOSYS) return;
  ec = (errno == ENOSPC || errno == EDQUOT) ? make_error_code(transfer_errc::no_space)
                                            : last_error();
}

void release_unwritten(int fd, std::uint64_t size) noexcept {
  // Reserved blocks never written read as holes to SEEK_HOLE (ext4, xfs): punch each such
  // run, so they are given back. Bounded: a file of a million runs keeps the rest.
  std::uint64_t at = 0;
  for (int runs = 0; at < size && runs < 1'000'000; ++runs) {
    off_t hole = ::lseek(fd, static_cast<off_t>(at), SEEK_HOLE);
    if (hole < 0 || static_cast<std::uint64_t>(hole) >= size) return;
    off_t data = ::lseek(fd, hole, SEEK_DATA);
    std::uint64_t end = data < 0 ? size : std::min<std::uint64_t>(size, data);
    ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, hole,
                static_cast<off_t>(end - static_cast<std::uint64_t>(hole)));
    at = end;
  }
}

void release_reserved(int fd) noexcept {
  struct stat st {};
  // Truncating to the size it has drops the blocks reserved past the end (ext4, xfs).
  if (::fstat(fd, &st) == 0) (void)::ftruncate(fd, st.st_size);
}

mode_t current_umask() noexcept {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Umask:", 0) == 0) {
      try {
        return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8)) & 0777;
      } catch (...) {
        break;
      }
    }
  }
  mode_t m = ::umask(022);
  ::umask(m);
  return m;
}

mode_t peer_file_mode(int requested, mode_t umask) noexcept {
  mode_t m = requested >= 0 ? static_cast<mode_t>(requested) : 0644;
  return m & 0777 & ~umask & ~static_cast<mode_t>(S_IWOTH);
}

mode_t peer_dir_mode(int requested, mode_t umask) noexcept {
  return peer_file_mode(requested >= 0 ? requested : 0755, umask) | 0700;
}

namespace {

struct sweep_state {
  std::int64_t cutoff_ns;
  std::size_t entries_left;
  std::mutex* lock;
  const std::function<bool(const std::string&)>& may_remove;
  const std::function<void(const std::string&, std::uint64_t, std::int64_t)>& removed;
  const std::atomic<bool>* stop;
  std::size_t count = 0;
};

void sweep_dir(int dirfd, const std::string& prefix, sweep_state& s, int depth) {
  // A descriptor of its own (not dup: that shares the read position with `dirfd`, which
  // the server also lists from).
  int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) return;
  DIR* d = ::fdopendir(dup);
  if (!d) {
    ::close(dup);
    return;
  }
  std::vector<std::string> subdirs;
  while (dirent* e = ::readdir(d)) {
    if (s.entries_left == 0 || (s.stop && s.stop->load(std::memory_order_relaxed))) break;
    --s.entries_left;
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st {};
    if (::fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      subdirs.emplace_back(n);
      continue;
    }
    if (!S_ISREG(st.st_mode) || !is_partial_name(n)) continue;
    std::int64_t mtime =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (mtime >= s.cutoff_ns) continue;
    std::string rel = prefix.empty() ? std::string(n) : prefix + "/" + std::string(n);
    std::unique_lock<std::mutex> held;
    if (s.lock) held = std::unique_lock(*s.lock);
    if (!s.may_remove(rel) || ::unlinkat(dirfd, e->d_name, 0) != 0) continue;
    if (held) held.unlock();
    ++s.count;
    if (s.removed) s.removed(rel, static_cast<std::uint64_t>(st.st_size), mtime);
  }
  ::closedir(d);
  if (depth >= 256) return;  // names are at most 4096 bytes: deeper is not ours
  for (auto& n : subdirs) {
    unique_fd sub(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (sub) sweep_dir(sub.get(), prefix.empty() ? n : prefix + "/" + n, s, depth + 1);
  }
}

}  // namespace

std::size_t sweep_partials(
    int root, std::int64_t cutoff_ns, std::size_t max_entries, std::mutex* lock,
    const std::function<bool(const std::string&)>& may_remove,
    const std::function<void(const std::string&, std::uint64_t, std::int64_t)>& removed,
    const std::atomic<bool>* stop) {
  sweep_state s{cutoff_ns, max_entries, lock, may_remove, removed, stop};
  sweep_dir(root, "", s, 0);
  return s.count;
}

}  // namespace sockit::service
