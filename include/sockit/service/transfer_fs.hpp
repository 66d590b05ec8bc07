// Filesystem side of transfer, shared by server and client: files opened relative to a directory
// handle without following symlinks, partial files promoted by rename only after verification,
// sparse-aware writes.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sockit/net/unique_fd.hpp"
#include "sockit/service/transfer_error.hpp"
#include "sockit/service/transfer_names.hpp"

namespace sockit::service {

/// The transfer files name it unqualified; it lives in net/ with the other fd helpers.
using net::unique_fd;

/// Opens a directory (O_DIRECTORY | O_NOFOLLOW on the last component is not applied: this
/// is the root the user named).
unique_fd open_root_dir(const std::string& path, std::error_code& ec);

/// Walks `dirs` below `root`, one openat(O_DIRECTORY|O_NOFOLLOW) at a time, creating the
/// missing ones with `mode` when `create`. A symlink anywhere gives transfer_errc::unsafe_name.
unique_fd open_dir_chain(int root, std::span<const std::string> dirs, bool create, mode_t mode,
                         std::error_code& ec);

/// Walks `dirs` below `root` as far as they exist (openat O_DIRECTORY|O_NOFOLLOW, nothing is
/// created): returns the deepest existing one, `depth` = how many components were walked
/// (dirs.size() when all exist). A symlink or a non-directory gives transfer_errc::unsafe_name.
unique_fd open_existing_dirs(int root, std::span<const std::string> dirs, std::size_t& depth,
                             std::error_code& ec);

/// Creates `dirs` one inside the other below `at` (mkdirat with `mode`, which the umask
/// masks; then openat O_NOFOLLOW) and returns the last. `made` gets, for each component,
/// whether this call created it (false: another process did it first).
unique_fd make_dirs(int at, std::span<const std::string> dirs, mode_t mode, std::vector<bool>& made,
                    std::error_code& ec);

/// Removes `dirs` (a chain below `at`) deepest first, while they are empty: undoes make_dirs
/// after a refused upload. A directory that is not empty (anymore) is left, and so are the
/// ones above it. Returns how many it removed (the deepest ones of the chain).
std::size_t remove_empty_dirs(int at, std::span<const std::string> dirs) noexcept;

/// Writes `data` at `offset`; all-zero pieces are skipped (left as a hole) when `sparse`,
/// so the file must be truncated to its final size afterwards (finish_file does).
void write_at(int fd, std::string_view data, std::uint64_t offset, bool sparse,
              std::error_code& ec);

/// Sets the size, mode and mtime (nanoseconds since the epoch; <0 = leave) of a written file
/// and fsyncs it.
void finish_file(int fd, std::uint64_t size, int mode, std::int64_t mtime_ns, std::error_code& ec);

/// finish_file without the fsync, for callers that make a batch of files durable at once
/// (sync_files) before renaming any of them. `size` UINT64_MAX leaves the size as it is.
void set_file_attrs(int fd, std::uint64_t size, int mode, std::int64_t mtime_ns,
                    std::error_code& ec);

/// An unnamed regular file in `dir` (O_TMPFILE): it vanishes on close unless link_unnamed
/// gives it a name. Fails (EOPNOTSUPP, EISDIR...) on filesystems without O_TMPFILE.
unique_fd open_unnamed(int dir, std::error_code& ec);

/// Links an open_unnamed file into `dir` as `name`; transfer_errc::name_exists if it exists (never
/// replaces). The caller has fsynced the file already.
void link_unnamed(int fd, int dir, const std::string& name, std::error_code& ec);

/// Makes the data and metadata of every file in `fds` durable: fsync for one file, syncfs
/// once per filesystem for several (one journal commit instead of one per file: 10,000
/// small files). Returns one error per file.
std::vector<std::error_code> sync_files(std::span<const int> fds);

/// Applies a directory's mode (the owner always keeps rwx, so a later upload or resume can
/// still write into it; <0 = leave) and mtime (nanoseconds since the epoch; <0 = leave).
/// Call it after the directory's entries are written: adding an entry changes its mtime.
void finish_dir(int fd, int mode, std::int64_t mtime_ns, std::error_code& ec);

/// Moves dir/from to dir/to. Without `overwrite` it fails with transfer_errc::name_exists when `to`
/// exists (atomically, RENAME_NOREPLACE). The caller has fsynced the file already.
void promote(int dir, const std::string& from, const std::string& to, bool overwrite,
             std::error_code& ec);

/// Free bytes for an unprivileged writer in the filesystem holding `dir`; its whole size in
/// bytes goes to `size` when given (one statvfs for both).
std::uint64_t free_space(int dir, std::error_code& ec, std::uint64_t* size = nullptr);

/// Reserves `length` bytes of `fd` from `offset` (fallocate, FALLOC_FL_KEEP_SIZE: the size
/// stays what was written, so a partial still reports how far it got). A filesystem without
/// fallocate is no error; a full one is transfer_errc::no_space.
void reserve_space(int fd, std::uint64_t offset, std::uint64_t length, std::error_code& ec);
/// Gives back what reserve_space reserved inside the file's first `size` bytes but nothing
/// was written to (zero runs left as holes), so a sparse upload stays sparse.
void release_unwritten(int fd, std::uint64_t size) noexcept;
/// Gives back what reserve_space reserved past the file's end (an interrupted upload).
void release_reserved(int fd) noexcept;

/// The process's umask, read without changing it (/proc/self/status; umask() twice, before
/// any thread runs, where that is missing).
mode_t current_umask() noexcept;

/// A mode a peer asked for, as the server applies it: permission bits only, masked by
/// `umask`, never setuid, setgid, sticky or world-writable. Directories keep owner rwx.
mode_t peer_file_mode(int requested, mode_t umask) noexcept;
mode_t peer_dir_mode(int requested, mode_t umask) noexcept;

/// Removes partial files (is_partial_name) below `root`, walked with openat(O_NOFOLLOW),
/// whose mtime is older than `cutoff_ns` (nanoseconds since the epoch) and for which
/// `may_remove(relative path of the partial)` says yes; `lock` (if any) is held from that
/// question until the unlink, so whoever answers it can keep a partial in use. `removed` is
/// told each one (path, size, mtime_ns). At most `max_entries` directory entries are looked at, so
/// a huge tree cannot make one sweep endless; `stop` ends it early. Returns how many went.
std::size_t sweep_partials(
    int root, std::int64_t cutoff_ns, std::size_t max_entries, std::mutex* lock,
    const std::function<bool(const std::string&)>& may_remove,
    const std::function<void(const std::string&, std::uint64_t, std::int64_t)>& removed,
    const std::atomic<bool>* stop = nullptr);

/// Opens dir/name read-only if it is a regular file, and only then: the type is checked
/// with fstatat before the open (opening a device can have effects), and again on the
/// descriptor, which is opened O_NONBLOCK (a FIFO swapped in meanwhile cannot block it) and
/// O_NOFOLLOW. transfer_errc::not_found, transfer_errc::unsafe_name (a symlink),
/// std::errc::is_a_directory, transfer_errc::not_regular_file (FIFO, device, socket).
unique_fd open_regular_file(int dir, const std::string& name, std::error_code& ec);

}  // namespace sockit::service
