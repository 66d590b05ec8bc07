// chat_command.hpp: what each kind of chat line becomes, and the nick and room rules.
#include "sockit/service/chat_command.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using sockit::service::chat_command;
using sockit::service::check_nick;
using sockit::service::check_room;
using sockit::service::parse_chat_line;
using kind = chat_command::kind;

TEST(ChatCommand, EmptyLineIsNothing) {
  chat_command c = parse_chat_line("");
  EXPECT_EQ(c.what, kind::none);
  EXPECT_TRUE(c.arg.empty());
}

TEST(ChatCommand, PlainTextIsSaidAsIs) {
  chat_command c = parse_chat_line("  hello /nick there ");
  EXPECT_EQ(c.what, kind::say);
  EXPECT_EQ(c.arg, "  hello /nick there ");
  EXPECT_TRUE(c.word.empty());
}

TEST(ChatCommand, DoubleSlashSendsOneSlash) {
  EXPECT_EQ(parse_chat_line("//nick bob").what, kind::say);
  EXPECT_EQ(parse_chat_line("//nick bob").arg, "/nick bob");
  EXPECT_EQ(parse_chat_line("//").arg, "/");
  EXPECT_EQ(parse_chat_line("///x").arg, "//x");
}

TEST(ChatCommand, EachCommand) {
  EXPECT_EQ(parse_chat_line("/nick x").what, kind::nick);
  EXPECT_EQ(parse_chat_line("/nick x").arg, "x");
  EXPECT_EQ(parse_chat_line("/join #r").what, kind::join);
  EXPECT_EQ(parse_chat_line("/join #r").arg, "#r");
  EXPECT_EQ(parse_chat_line("/me waves").what, kind::me);
  EXPECT_EQ(parse_chat_line("/me waves").arg, "waves");
  EXPECT_EQ(parse_chat_line("/me").what, kind::me);
  EXPECT_EQ(parse_chat_line("/me").arg, "");
  EXPECT_EQ(parse_chat_line("/quit").what, kind::quit);
  EXPECT_EQ(parse_chat_line("/quit gone home").arg, "gone home");
  EXPECT_EQ(parse_chat_line("/list").what, kind::list);
  EXPECT_EQ(parse_chat_line("/who").what, kind::list);
  EXPECT_EQ(parse_chat_line("/names").what, kind::list);
  EXPECT_EQ(parse_chat_line("/rooms").what, kind::rooms);
  EXPECT_EQ(parse_chat_line("/help").what, kind::help);
}

TEST(ChatCommand, CommandWordIgnoresAsciiCaseOnly) {
  EXPECT_EQ(parse_chat_line("/NICK Bob").what, kind::nick);
  EXPECT_EQ(parse_chat_line("/NICK Bob").arg, "Bob");
  EXPECT_EQ(parse_chat_line("/JoIn #r").what, kind::join);
  // U+0130 (capital I with dot) is not an ASCII 'I': no Unicode folding.
  EXPECT_EQ(parse_chat_line("/l\xc4\xb0st").what, kind::unknown);
}

TEST(ChatCommand, MsgSplitsAtTheFirstSpaceAfterTheNick) {
  chat_command c = parse_chat_line("/msg bob hi there");
  EXPECT_EQ(c.what, kind::msg);
  EXPECT_EQ(c.target, "bob");
  EXPECT_EQ(c.text, "hi there");
  c = parse_chat_line("/msg   bob  two spaces  ");
  EXPECT_EQ(c.target, "bob");
  EXPECT_EQ(c.text, " two spaces");  // inner spaces are the sender's; outer ones are trimmed
}

TEST(ChatCommand, MsgWithoutTextIsAUsageError) {
  for (const char* line : {"/msg", "/msg ", "/msg bob", "/msg bob   "}) {
    chat_command c = parse_chat_line(line);
    EXPECT_EQ(c.what, kind::msg) << line;
    EXPECT_TRUE(c.target.empty()) << line;
  }
}

TEST(ChatCommand, ArgumentLosesOuterSpacesButNotTabs) {
  EXPECT_EQ(parse_chat_line("/nick    x   ").arg, "x");
  EXPECT_EQ(parse_chat_line("/nick \tx").arg, "\tx");
  // A tab does not end the command word.
  EXPECT_EQ(parse_chat_line("/nick\tx").what, kind::unknown);
}

TEST(ChatCommand, UnknownKeepsTheWordAsTyped) {
  chat_command c = parse_chat_line("/frobnicate now");
  EXPECT_EQ(c.what, kind::unknown);
  EXPECT_EQ(c.word, "/frobnicate");
  EXPECT_EQ(c.arg, "now");
  EXPECT_EQ(parse_chat_line("/").what, kind::unknown);
  EXPECT_EQ(parse_chat_line("/ nick").what, kind::unknown);
  EXPECT_EQ(parse_chat_line("/nickname").what, kind::unknown);
}

TEST(ChatCommand, ViewsPointIntoTheLine) {
  const std::string line = "/msg bob hi";
  chat_command c = parse_chat_line(line);
  EXPECT_EQ(c.word.data(), line.data());
  EXPECT_EQ(c.target.data(), line.data() + 5);
  EXPECT_EQ(c.text.data(), line.data() + 9);
}

TEST(ChatCommand, NulAndControlBytesAreJustText) {
  const std::string line("/nick a\0b", 9);
  chat_command c = parse_chat_line(line);
  EXPECT_EQ(c.what, kind::nick);
  EXPECT_EQ(c.arg, std::string_view("a\0b", 3));
  EXPECT_NE(check_nick(c.arg), "");
}

TEST(ChatNameRules, Nicks) {
  EXPECT_EQ(check_nick("alice"), "");
  EXPECT_EQ(check_nick("Bob_2-x"), "");
  EXPECT_EQ(check_nick(std::string(24, 'a')), "");
  EXPECT_EQ(check_nick(std::string(25, 'a')), "a nickname has at most 24 characters");
  EXPECT_NE(check_nick(""), "");
  EXPECT_NE(check_nick("2bob"), "");
  EXPECT_NE(check_nick("_bob"), "");
  EXPECT_NE(check_nick("bo b"), "");
  EXPECT_NE(check_nick("b\xc3\xa9"), "");  // letters are ASCII letters
}

TEST(ChatNameRules, Rooms) {
  EXPECT_EQ(check_room("#lobby"), "");
  EXPECT_EQ(check_room("#1"), "");
  EXPECT_EQ(check_room("#" + std::string(24, 'r')), "");
  EXPECT_EQ(check_room("#" + std::string(25, 'r')),
            "a room name has at most 24 characters after '#'");
  EXPECT_NE(check_room("#"), "");
  EXPECT_NE(check_room("##"), "");
  EXPECT_NE(check_room("lobby"), "");
  EXPECT_NE(check_room("#a/b"), "");
}

}  // namespace
