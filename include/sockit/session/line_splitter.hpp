// line_splitter: cuts a byte stream into '\n'-terminated lines with a hard limit on line
// length, whatever size the pieces arrive in. It keeps only the unfinished last line (at
// most max_line bytes), so a caller can read into one scratch buffer shared by every
// connection of a loop and an idle connection holds no read buffer at all. Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

namespace sockit::session {

/// What one call of the line callback is about.
enum class line_kind {
  complete,  // a whole line, without its "\n" or "\r\n"
  too_long,  // the first max_line bytes of a longer line; the rest is skipped up to its '\n'
};

/// Thread-safety: none. The callback gets a view valid only during the call, and returns
/// false to stop after that line: feed() then returns how much of its input it used, and the
/// caller may feed the rest later (a reader with a budget of lines per turn does).
class line_splitter {
 public:
  /// `max_line` counts the bytes of a line without its terminator.
  explicit line_splitter(std::size_t max_line) : max_line_(max_line) {}

  /// Splits `data`, continuing the line left unfinished by the previous call. Returns how
  /// many bytes of `data` it used: all of them, or fewer when the callback asked to stop
  /// (up to and including the '\n' of the line it stopped after).
  template <class OnLine>
  std::size_t feed(std::string_view data, OnLine&& on_line) {
    const char* const begin = data.data();
    auto used = [&] { return static_cast<std::size_t>(data.data() - begin); };
    while (!data.empty()) {
      const char* nl = static_cast<const char*>(std::memchr(data.data(), '\n', data.size()));
      std::size_t len = nl ? static_cast<std::size_t>(nl - data.data()) : data.size();
      std::string_view piece = data.substr(0, len);
      data.remove_prefix(nl ? len + 1 : len);
      if (skipping_) {  // the rest of a line already reported as too long
        if (nl) skipping_ = false;
        continue;
      }
      if (partial_.size() + piece.size() > max_line_ + 1) {  // +1: a '\r' may end it
        // Too long whether or not it is finished: report it now, buffer no more of it.
        bool go = report_too_long(piece, on_line);
        skipping_ = nl == nullptr;
        if (!go) return used();
        continue;
      }
      if (!nl) {  // unfinished: keep it for the next piece
        partial_.append(piece);
        continue;
      }
      std::string_view line = piece;
      if (!partial_.empty()) {
        partial_.append(piece);
        line = partial_;
      }
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      bool go = line.size() > max_line_ ? on_line(line.substr(0, max_line_), line_kind::too_long)
                                        : on_line(line, line_kind::complete);
      partial_.clear();
      if (!go) return used();
    }
    release_if_big();
    return used();
  }

  /// The end of the stream: an unfinished last line (not one being skipped) is a line.
  template <class OnLine>
  bool finish(OnLine&& on_line) {
    bool go = true;
    if (!partial_.empty() && !skipping_) {
      std::string_view line = partial_;
      if (line.back() == '\r') line.remove_suffix(1);
      go = line.size() > max_line_ ? on_line(line.substr(0, max_line_), line_kind::too_long)
                                   : on_line(line, line_kind::complete);
    }
    partial_.clear();
    skipping_ = false;
    release_if_big();
    return go;
  }

  /// Bytes of the unfinished line held (never more than max_line + 1).
  std::size_t buffered() const noexcept { return partial_.size(); }
  /// The allocation behind them (for tests of the memory bound).
  std::size_t capacity() const noexcept { return partial_.capacity(); }
  std::size_t max_line() const noexcept { return max_line_; }

 private:
  // Reports the first max_line bytes of the too-long line whose start is held in partial_
  // (if anything) and whose latest piece is `piece`.
  template <class OnLine>
  bool report_too_long(std::string_view piece, OnLine& on_line) {
    std::size_t take = partial_.size() < max_line_ ? max_line_ - partial_.size() : 0;
    partial_.append(piece.substr(0, take));
    bool go = on_line(std::string_view(partial_).substr(0, max_line_), line_kind::too_long);
    partial_.clear();
    release_if_big();
    return go;
  }

  // A long line's allocation is given back once it is done with, so a member that once
  // sent a long line does not keep the memory while idle.
  void release_if_big() {
    if (partial_.empty() && partial_.capacity() > 256) std::string().swap(partial_);
  }

  std::string partial_;
  std::size_t max_line_;
  bool skipping_ = false;
};

}  // namespace sockit::session
