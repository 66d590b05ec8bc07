// The chat server's line formats and the client's parsers: every format parses back to
// what was formatted, and lines that are none of them stay "other".
#include "sockit/service/chat_lines.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cl = sockit::service::chat_lines;
using kind = cl::parsed_line::kind;

TEST(ChatLines, TimePrefixIsSplitOff) {
  std::string line = cl::time_prefix(9, 5, 7) + "hello";
  EXPECT_EQ(line, "[09:05:07] hello");
  std::string_view v = line;
  EXPECT_EQ(cl::split_time(v), "09:05:07");
  EXPECT_EQ(v, "hello");
  std::string_view none = "[9:05:07] x";
  EXPECT_EQ(cl::split_time(none), "");
  EXPECT_EQ(none, "[9:05:07] x");
}

TEST(ChatLines, EachFormatParsesBack) {
  struct expect_line {
    std::string line;
    kind what;
    std::string nick, text;
  };
  const std::vector<expect_line> cases = {
      {cl::message("bob", "hi there"), kind::message, "bob", "hi there"},
      {cl::action("bob", "waves at you"), kind::action, "bob", "waves at you"},
      {cl::private_message("bob", "psst"), kind::private_message, "bob", "psst"},
      {cl::private_sent("eve", "psst back"), kind::private_sent, "eve", "psst back"},
      {cl::notice("anything"), kind::notice, "", "anything"},
      {cl::joined("bob", "#dev"), kind::notice, "", "bob joined #dev"},
      {cl::left("bob", "quit"), kind::notice, "", "bob left (quit)"},
      {cl::left_for("bob", "#dev"), kind::notice, "", "bob left for #dev"},
      {cl::dropped("bob"), kind::notice, "", "bob was dropped (not reading)"},
      {cl::dropped("bob", cl::drop_reason::reading_slowly), kind::notice, "",
       "bob was dropped (reading too slowly)"},
      {cl::dropped("bob", cl::drop_reason::excess_flood), kind::notice, "",
       "bob was dropped (excess flood)"},
      {std::string(cl::dropped_goodbye(cl::drop_reason::excess_flood)), kind::notice, "",
       "disconnected: excess flood: you sent far more than the room takes (--rate)"},
      {cl::turned_away("the room is full (4 members)"), kind::notice, "",
       "the room is full (4 members), try again later"},
      {std::string(cl::bye), kind::notice, "", "bye"},
  };
  for (const auto& c : cases) {
    for (bool stamped : {false, true}) {
      std::string line = stamped ? cl::time_prefix(12, 0, 1) + c.line : c.line;
      auto p = cl::parse(line);
      EXPECT_EQ(p.what, c.what) << line;
      EXPECT_EQ(p.nick, c.nick) << line;
      EXPECT_EQ(p.text, c.text) << line;
      EXPECT_EQ(p.time, stamped ? "12:00:01" : "") << line;
    }
  }
}

TEST(ChatLines, OtherLinesAndEdgeCases) {
  EXPECT_EQ(cl::parse("just a line").what, kind::other);
  EXPECT_EQ(cl::parse("just a line").text, "just a line");
  EXPECT_EQ(cl::parse("<no closing bracket").what, kind::other);
  EXPECT_EQ(cl::parse("*lonely").what, kind::other);
  EXPECT_EQ(cl::parse("-> *nobody").what, kind::other);
  auto bare = cl::parse("* eve");  // an action with no text
  EXPECT_EQ(bare.what, kind::action);
  EXPECT_EQ(bare.nick, "eve");
  EXPECT_EQ(bare.text, "");
  EXPECT_EQ(cl::parse("").what, kind::other);
}

TEST(ChatLines, WelcomeAndRenameTellTheClientItsNick) {
  const std::string welcome_line = cl::time_prefix(1, 2, 3) + cl::welcome("#lobby", "guest7", 3);
  auto welcome = cl::parse(welcome_line);  // views into welcome_line
  ASSERT_EQ(welcome.what, kind::notice);
  EXPECT_EQ(cl::welcomed_nick(welcome.text), "guest7");
  EXPECT_EQ(cl::welcomed_nick("bob joined #lobby"), std::nullopt);

  const std::string renamed_line = cl::renamed("guest7", "alice");
  auto renamed = cl::parse(renamed_line);
  ASSERT_EQ(renamed.what, kind::notice);
  EXPECT_EQ(cl::renamed_to(renamed.text, "guest7"), "alice");
  EXPECT_EQ(cl::renamed_to(renamed.text, "guest"), std::nullopt);
  EXPECT_EQ(cl::renamed_to(renamed.text, ""), std::nullopt);
  const std::string other = cl::renamed("bob", "eve");
  EXPECT_EQ(cl::renamed_to(cl::parse(other).text, "guest7"), std::nullopt);
}

TEST(ChatLines, MemberListAndBye) {
  std::vector<std::string_view> names = {"alice", "bob"};
  EXPECT_EQ(cl::member_list("#dev", names), "*** 2 in #dev: alice, bob");
  EXPECT_TRUE(cl::is_bye("*** bye"));
  EXPECT_FALSE(cl::is_bye("*** bye now"));
}
