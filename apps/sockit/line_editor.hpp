// line_editor: the one-line editor of `sockit chat join` in a terminal: the line being
// typed (UTF-8) with a cursor, history, and the keys that edit it, fed one byte at a time.
// No I/O: it returns what to draw and what the key asked for, so it is unit-tested alone.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sockit::cli {

/// Terminal columns of the character starting at byte `i` of `s` (a lead byte and its
/// continuation bytes): 2 for CJK and most emoji, 0 for combining marks, 1 when wcwidth()
/// does not know (malformed UTF-8, no UTF-8 locale, unassigned code points).
std::size_t columns_at(std::string_view s, std::size_t i);
/// The byte after the character starting at `i`.
std::size_t next_char(std::string_view s, std::size_t i);
/// Terminal columns of all of `s`.
std::size_t columns(std::string_view s);

/// Makes wcwidth() (and so columns_at) know UTF-8: the environment's LC_CTYPE when it is a
/// UTF-8 one, else C.UTF-8.
void use_utf8_ctype();

// Keys understood: printable text, Backspace, Delete, Left/Right, Home/End (also Ctrl-A/E),
// Up/Down through history (also Ctrl-P/N), Ctrl-B/F, Ctrl-U/K/W (kill to start, to end, word
// before the cursor), Ctrl-D deletes at the cursor on a non-empty line.
class line_editor {
 public:
  /// What a key asked of the caller.
  enum class action {
    none,          // nothing visible changed
    redraw,        // the line changed: draw() it
    submit,        // Enter: take the line with submit()
    interrupt,     // Ctrl-C, or Ctrl-D on an empty line: the user wants to leave
    clear_screen,  // Ctrl-L
  };

  /// One byte typed. Escape sequences (cursor keys) arrive a byte at a time and act on
  /// their last byte.
  action key(unsigned char c);

  /// The line as it must be drawn on a terminal `cols` columns wide: only the part that
  /// fits (scrolled so the cursor is in it; a wrapped line would garble redraws), then the
  /// cursor moved to its place. Measured in terminal columns, so wide characters count two.
  std::string draw(unsigned cols) const;

  /// Takes the finished line and remembers it (once, if the same as the last one).
  std::string submit();

  const std::string& text() const noexcept { return text_; }
  std::size_t cursor() const noexcept { return cursor_; }  // a byte offset, on a boundary
  const std::vector<std::string>& history() const noexcept { return history_; }

  std::string prompt = "> ";
  static constexpr std::size_t max_history = 500;
  static constexpr std::size_t max_text = 16384;

 private:
  void insert(char c);
  void left();
  void right();
  void erase_before();
  void erase_at();
  void erase_word();
  void kill_to_start();
  void kill_to_end();
  void set(std::string s);
  void older();
  void newer();
  bool key_sequence(bool csi, char final_byte);

  std::string text_;
  std::size_t cursor_ = 0;
  std::vector<std::string> history_;  // oldest first
  std::size_t recalled_ = 0;          // index into history_; == size() means the draft
  std::string draft_;                 // what was being typed before Up was pressed
  // Escape sequences from keys: ESC, then '[' (CSI) or 'O' (SS3), then parameters and a
  // final byte.
  int escape_state_ = 0;  // 0 none, 1 after ESC, 2 in CSI, 3 after SS3
  std::string escape_params_;
};

}  // namespace sockit::cli
