// The `chat join` line editor (apps/sockit/line_editor.cpp, compiled into this test binary):
// keys edit the line by characters, history recalls, and draw() fits the terminal's width.
#include "line_editor.hpp"

#include <gtest/gtest.h>

#include <string>

using sockit::cli::line_editor;
using action = line_editor::action;

namespace {

void type(line_editor& ed, std::string_view keys) {
  for (char c : keys) ed.key(static_cast<unsigned char>(c));
}

}  // namespace

TEST(LineEditor, TypingAndEnter) {
  line_editor ed;
  EXPECT_EQ(ed.key('h'), action::redraw);
  type(ed, "i\tthere");
  EXPECT_EQ(ed.text(), "hi there");  // a tab becomes a space
  EXPECT_EQ(ed.key('\r'), action::submit);
  EXPECT_EQ(ed.submit(), "hi there");
  EXPECT_EQ(ed.text(), "");
  EXPECT_EQ(ed.cursor(), 0u);
}

TEST(LineEditor, CursorKeysMoveByCharacterNotByte) {
  line_editor ed;
  type(ed, "a\xc3\xa9z");  // a, é (two bytes), z
  type(ed, "\x1b[D");      // Left
  EXPECT_EQ(ed.cursor(), 3u);
  type(ed, "\x1b[D");
  EXPECT_EQ(ed.cursor(), 1u);
  EXPECT_EQ(ed.key(0x7f), action::redraw);  // Backspace: the 'a'
  EXPECT_EQ(ed.text(), "\xc3\xa9z");
  type(ed, "\x1b[3~");  // Delete: the é, whole
  EXPECT_EQ(ed.text(), "z");
  type(ed, "\x1b[F");  // End
  EXPECT_EQ(ed.cursor(), 1u);
  type(ed, "\x1bOH");  // Home, as SS3
  EXPECT_EQ(ed.cursor(), 0u);
  EXPECT_EQ(ed.key(0x1b), action::none);
  EXPECT_EQ(ed.key('['), action::none);
  EXPECT_EQ(ed.key('Z'), action::none);  // an unknown sequence changes nothing
  EXPECT_EQ(ed.text(), "z");
}

TEST(LineEditor, KillKeys) {
  line_editor ed;
  type(ed, "one two  three");
  ed.key(0x17);  // Ctrl-W
  EXPECT_EQ(ed.text(), "one two  ");
  ed.key(0x17);
  EXPECT_EQ(ed.text(), "one ");
  ed.key(0x01);        // Ctrl-A
  type(ed, "\x1b[C");  // Right
  ed.key(0x0b);        // Ctrl-K
  EXPECT_EQ(ed.text(), "o");
  type(ed, "xyz");
  ed.key(0x02);  // Ctrl-B
  ed.key(0x15);  // Ctrl-U
  EXPECT_EQ(ed.text(), "z");
  EXPECT_EQ(ed.cursor(), 0u);
  ed.key(0x04);  // Ctrl-D on a non-empty line deletes at the cursor
  EXPECT_EQ(ed.text(), "");
  EXPECT_EQ(ed.key(0x04), action::interrupt);  // and on an empty one, leaves
  EXPECT_EQ(ed.key(0x03), action::interrupt);
  EXPECT_EQ(ed.key(0x0c), action::clear_screen);
  EXPECT_EQ(ed.key(0x07), action::none);  // an unbound control key
}

TEST(LineEditor, HistoryKeepsTheDraft) {
  line_editor ed;
  for (auto* l : {"first", "second", "second"}) {
    type(ed, l);
    ed.submit();
  }
  ASSERT_EQ(ed.history().size(), 2u);  // a repeat is remembered once
  type(ed, "draft");
  type(ed, "\x1b[A");  // Up
  EXPECT_EQ(ed.text(), "second");
  ed.key(0x10);  // Ctrl-P
  EXPECT_EQ(ed.text(), "first");
  type(ed, "\x1b[A");  // past the oldest: stays
  EXPECT_EQ(ed.text(), "first");
  type(ed, "\x1b[B\x1b[B");  // Down twice: back to the draft
  EXPECT_EQ(ed.text(), "draft");
  EXPECT_EQ(ed.cursor(), 5u);
  EXPECT_EQ(ed.submit(), "draft");
  EXPECT_EQ(ed.submit(), "");  // an empty line is not remembered
  EXPECT_EQ(ed.history().size(), 3u);
}

TEST(LineEditor, DrawFitsTheWidthAndPlacesTheCursor) {
  line_editor ed;
  EXPECT_EQ(ed.draw(80), "\r\x1b[K> \r\x1b[2C");
  type(ed, "abcdefghij");
  // 12 columns: prompt (2) + 9 for text, one kept free; the cursor at the end scrolls.
  EXPECT_EQ(ed.draw(12), "\r\x1b[K> bcdefghij\r\x1b[11C");
  ed.key(0x01);  // Home: the start is shown again
  EXPECT_EQ(ed.draw(12), "\r\x1b[K> abcdefghi\r\x1b[2C");
}

TEST(LineEditor, LongLinesStopAtTheLimit) {
  line_editor ed;
  for (std::size_t i = 0; i < line_editor::max_text + 10; ++i) ed.key('x');
  EXPECT_EQ(ed.text().size(), line_editor::max_text);
}

TEST(LineEditor, ColumnsOfAsciiAndMalformedUtf8) {
  EXPECT_EQ(sockit::cli::columns("abc"), 3u);
  EXPECT_EQ(sockit::cli::columns("\xc3"), 1u);  // a lone lead byte: one column
  EXPECT_EQ(sockit::cli::next_char("\xc3\xa9x", 0), 2u);
}
