// line_editor: editing a UTF-8 line by bytes typed, and drawing it within a terminal's width.
#include "line_editor.hpp"

#include <langinfo.h>
#include <wchar.h>

#include <fmt/format.h>
#include <algorithm>
#include <clocale>
#include <cstring>

namespace sockit::cli {
namespace {

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }

}  // namespace

void use_utf8_ctype() {
  std::setlocale(LC_CTYPE, "");
  if (std::strcmp(::nl_langinfo(CODESET), "UTF-8") != 0) std::setlocale(LC_CTYPE, "C.UTF-8");
}

std::size_t columns_at(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  std::size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
  char32_t cp = len == 4 ? c & 0x07 : len == 3 ? c & 0x0f : c & 0x1f;
  for (std::size_t k = 1; k < len; ++k) {
    if (i + k >= s.size() || !continuation(s[i + k])) return 1;
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  }
  int w = ::wcwidth(static_cast<wchar_t>(cp));
  return w < 0 ? 1 : static_cast<std::size_t>(w);
}

std::size_t next_char(std::string_view s, std::size_t i) {
  ++i;
  while (i < s.size() && continuation(s[i])) ++i;
  return i;
}

std::size_t columns(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); i = next_char(s, i)) n += columns_at(s, i);
  return n;
}

std::string line_editor::draw(unsigned cols) const {
  std::size_t room = cols > prompt.size() + 1 ? cols - prompt.size() - 1 : 1;
  std::string_view t = text_;
  // Scrolled just far enough that the cursor is within `room` columns of the start.
  std::size_t begin = 0;
  std::size_t before = columns(t.substr(0, cursor_));  // columns from `begin` to the cursor
  while (before > room && begin < cursor_) {
    before -= std::min(before, columns_at(t, begin));
    begin = next_char(t, begin);
  }
  std::size_t end = begin;
  for (std::size_t used = 0; end < t.size();) {
    std::size_t w = columns_at(t, end);
    if (used + w > room) break;  // a wide character never straddles the edge
    used += w;
    end = next_char(t, end);
  }
  std::string out = "\r\x1b[K" + prompt + text_.substr(begin, end - begin) + "\r";
  std::size_t column = prompt.size() + before;
  if (column > 0) out += fmt::format("\x1b[{}C", column);
  return out;
}

void line_editor::insert(char c) {
  if (text_.size() >= max_text) return;
  text_.insert(cursor_, 1, c);
  ++cursor_;
}
void line_editor::left() {
  while (cursor_ > 0) {
    --cursor_;
    if (!continuation(text_[cursor_])) break;
  }
}
void line_editor::right() {
  if (cursor_ >= text_.size()) return;
  ++cursor_;
  while (cursor_ < text_.size() && continuation(text_[cursor_])) ++cursor_;
}
void line_editor::erase_before() {
  std::size_t end = cursor_;
  left();
  text_.erase(cursor_, end - cursor_);
}
void line_editor::erase_at() {
  std::size_t start = cursor_;
  right();
  text_.erase(start, cursor_ - start);
  cursor_ = start;
}
void line_editor::erase_word() {
  std::size_t end = cursor_;
  while (cursor_ > 0 && text_[cursor_ - 1] == ' ') --cursor_;
  while (cursor_ > 0 && text_[cursor_ - 1] != ' ') --cursor_;
  text_.erase(cursor_, end - cursor_);
}
void line_editor::kill_to_start() {
  text_.erase(0, cursor_);
  cursor_ = 0;
}
void line_editor::kill_to_end() { text_.erase(cursor_); }
void line_editor::set(std::string s) {
  text_ = std::move(s);
  cursor_ = text_.size();
}
void line_editor::older() {
  if (recalled_ == 0) return;
  if (recalled_ == history_.size()) draft_ = text_;
  set(history_[--recalled_]);
}
void line_editor::newer() {
  if (recalled_ >= history_.size()) return;
  ++recalled_;
  set(recalled_ == history_.size() ? draft_ : history_[recalled_]);
}

std::string line_editor::submit() {
  std::string line = std::move(text_);
  text_.clear();
  cursor_ = 0;
  draft_.clear();
  if (!line.empty() && (history_.empty() || history_.back() != line)) {
    history_.push_back(line);
    if (history_.size() > max_history) history_.erase(history_.begin());
  }
  recalled_ = history_.size();
  return line;
}

// A complete key sequence: CSI (params + final) or SS3 (final). Returns whether it changed
// anything worth a redraw.
bool line_editor::key_sequence(bool csi, char final_byte) {
  if (csi && final_byte == '~') {
    if (escape_params_ == "1" || escape_params_ == "7")
      final_byte = 'H';
    else if (escape_params_ == "4" || escape_params_ == "8")
      final_byte = 'F';
    else if (escape_params_ == "3")
      return erase_at(), true;
    else
      return false;
  }
  switch (final_byte) {
    case 'A':
      older();
      return true;
    case 'B':
      newer();
      return true;
    case 'C':
      right();
      return true;
    case 'D':
      left();
      return true;
    case 'H':
      cursor_ = 0;
      return true;
    case 'F':
      cursor_ = text_.size();
      return true;
    default:
      return false;
  }
}

line_editor::action line_editor::key(unsigned char c) {
  if (escape_state_ == 1) {  // after ESC: '[' starts CSI, 'O' starts SS3
    escape_state_ = c == '[' ? 2 : c == 'O' ? 3 : 0;
    escape_params_.clear();
    return action::none;
  }
  if (escape_state_ == 2 || escape_state_ == 3) {
    if (escape_state_ == 2 && !(c >= 0x40 && c <= 0x7e)) {  // CSI parameter bytes
      if (escape_params_.size() < 16) escape_params_ += static_cast<char>(c);
      return action::none;
    }
    bool csi = escape_state_ == 2;
    escape_state_ = 0;
    return key_sequence(csi, static_cast<char>(c)) ? action::redraw : action::none;
  }
  if (c == 0x1b) {
    escape_state_ = 1;
    return action::none;
  }
  if (c == '\r' || c == '\n') return action::submit;
  if (c == 0x03 || (c == 0x04 && text_.empty())) return action::interrupt;  // Ctrl-C, Ctrl-D
  if (c == 0x0c) return action::clear_screen;                               // Ctrl-L
  if ((c >= 0x20 && c != 0x7f) || c == '\t') {
    insert(static_cast<char>(c == '\t' ? ' ' : c));
    return action::redraw;
  }
  switch (c) {
    case 0x7f:
    case 0x08:
      erase_before();  // Backspace
      break;
    case 0x04:
      erase_at();  // Ctrl-D on a non-empty line
      break;
    case 0x01:
      cursor_ = 0;  // Ctrl-A
      break;
    case 0x05:
      cursor_ = text_.size();  // Ctrl-E
      break;
    case 0x02:
      left();  // Ctrl-B
      break;
    case 0x06:
      right();  // Ctrl-F
      break;
    case 0x10:
      older();  // Ctrl-P
      break;
    case 0x0e:
      newer();  // Ctrl-N
      break;
    case 0x15:
      kill_to_start();  // Ctrl-U
      break;
    case 0x0b:
      kill_to_end();  // Ctrl-K
      break;
    case 0x17:
      erase_word();  // Ctrl-W
      break;
    default:
      return action::none;
  }
  return action::redraw;
}

}  // namespace sockit::cli
