// The body of an `ls` reply (docs/PROTOCOL.md), produced in bounded pieces: a directory tree
// is walked depth-first with one descriptor per open level and a small shared read buffer,
// so neither a huge directory nor a huge tree is ever held in memory whole.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "sockit/service/transfer_fs.hpp"

namespace sockit::service {

/// Appends one JSON line describing `st` under `name` (the `ls` body format; invalid UTF-8
/// in names is replaced, as JSON must be valid).
void append_listing_entry(std::string& out, std::string_view name, const struct stat& st);

/// Descriptors all listings of the process may hold below their tops, together: a quarter of
/// RLIMIT_NOFILE (read once), so that listings paused mid-walk by peers that read slowly
/// never take the descriptors connections and uploads need.
std::size_t listing_descriptor_cap() noexcept;

/// A listing in progress. Not thread-safe; it may move between threads between calls (the
/// server produces each piece on its query pool). Owns the descriptors it holds.
class dir_listing {
 public:
  struct limits {
    std::size_t max_entries = 1000000;  // then the listing ends, truncated()
    std::size_t max_depth = 128;        // open levels (descriptors); deeper ones not entered
    // Levels below the top that all listings hold together; past it, subdirectories are not
    // entered (truncated()).
    std::size_t max_open_total = listing_descriptor_cap();
  };

  /// Lists the directory `dir` (the caller opens it, so it has its own file position: never
  /// a dup of a shared handle), whose entries are named `prefix/NAME` ("" = the top).
  /// With `recursive` it descends into subdirectories, never through a symlink.
  dir_listing(unique_fd dir, std::string prefix, bool recursive, limits lim);
  dir_listing(unique_fd dir, std::string prefix, bool recursive)
      : dir_listing(std::move(dir), std::move(prefix), recursive, limits{}) {}
  ~dir_listing();
  dir_listing(const dir_listing&) = delete;
  dir_listing& operator=(const dir_listing&) = delete;

  /// The levels all listings of the process hold now (against max_open_total).
  static std::size_t open_levels() noexcept;

  /// Appends entries to `out` until it holds at least `max_bytes` (one entry may go past)
  /// or the listing ends; returns how many it appended.
  std::size_t next(std::string& out, std::size_t max_bytes);

  bool done() const noexcept { return levels_.empty(); }
  /// True when max_entries, max_depth or max_open_total left something out, or a
  /// subdirectory could not be opened (its subtree is missing).
  bool truncated() const noexcept { return truncated_; }
  std::size_t count() const noexcept { return count_; }

 private:
  struct level {
    unique_fd fd;
    std::string path;  // the prefix of this directory's entries
    bool counted;      // against max_open_total (every level but the top)
  };
  void pop_level() noexcept;
  std::vector<level> levels_;
  std::vector<char> buf_;  // getdents64 records of the deepest level
  std::size_t pos_ = 0, len_ = 0;
  bool recursive_;
  limits lim_;
  bool truncated_ = false;
  std::size_t count_ = 0;
};

}  // namespace sockit::service
