// chat_lines: the server's line formats and their parsers, side by side so that a change
// to one is a change to the other (tests/unit/chat_lines_test.cpp round-trips them).
#include "sockit/service/chat_lines.hpp"

#include <fmt/format.h>

namespace sockit::service::chat_lines {

std::string time_prefix(int hours, int minutes, int seconds) {
  return fmt::format("[{:02}:{:02}:{:02}] ", hours, minutes, seconds);
}

std::string message(std::string_view nick, std::string_view text) {
  return fmt::format("<{}> {}", nick, text);
}
std::string action(std::string_view nick, std::string_view text) {
  return fmt::format("* {} {}", nick, text);
}
std::string private_message(std::string_view from, std::string_view text) {
  return fmt::format("*{}* {}", from, text);
}
std::string private_sent(std::string_view to, std::string_view text) {
  return fmt::format("-> *{}* {}", to, text);
}
std::string notice(std::string_view text) { return fmt::format("*** {}", text); }

std::string welcome(std::string_view room, std::string_view nick, std::size_t count) {
  return fmt::format("*** welcome to {}, {}: {} here. /help lists the commands", room, nick, count);
}
std::string renamed(std::string_view old_nick, std::string_view new_nick) {
  return fmt::format("*** {} is now known as {}", old_nick, new_nick);
}
std::string joined(std::string_view nick, std::string_view room) {
  return fmt::format("*** {} joined {}", nick, room);
}
std::string left(std::string_view nick, std::string_view why) {
  return fmt::format("*** {} left ({})", nick, why);
}
std::string left_for(std::string_view nick, std::string_view room) {
  return fmt::format("*** {} left for {}", nick, room);
}
std::string_view drop_words(drop_reason why) {
  switch (why) {
    case drop_reason::reading_slowly:
      return "reading too slowly";
    case drop_reason::excess_flood:
      return "excess flood";
    case drop_reason::not_reading:
      break;
  }
  return "not reading";
}

std::string dropped(std::string_view nick, drop_reason why) {
  return fmt::format("*** {} was dropped ({})", nick, drop_words(why));
}

std::string_view dropped_goodbye(drop_reason why) {
  switch (why) {
    case drop_reason::reading_slowly:
      return "*** disconnected: you read more slowly than the room talks and fell too far behind";
    case drop_reason::excess_flood:
      return "*** disconnected: excess flood: you sent far more than the room takes (--rate)";
    case drop_reason::not_reading:
      break;
  }
  return "*** disconnected: you stopped reading and what waited for you filled your queue";
}

std::string member_list(std::string_view room, std::span<const std::string_view> nicks) {
  return fmt::format("*** {} in {}: {}", nicks.size(), room, fmt::join(nicks, ", "));
}
std::string turned_away(std::string_view why) {
  return fmt::format("*** {}, try again later", why);
}

std::string_view split_time(std::string_view& line) {
  if (line.size() >= 11 && line[0] == '[' && line[3] == ':' && line[6] == ':' && line[9] == ']' &&
      line[10] == ' ') {
    auto t = line.substr(1, 8);
    line.remove_prefix(11);
    return t;
  }
  return {};
}

parsed_line parse(std::string_view line) {
  using kind = parsed_line::kind;
  parsed_line p;
  p.time = split_time(line);
  constexpr auto npos = std::string_view::npos;
  if (line.starts_with("<") && line.find("> ") != npos) {
    auto end = line.find("> ");
    p.what = kind::message;
    p.nick = line.substr(1, end - 1);
    p.text = line.substr(end + 2);
  } else if (line.starts_with("*** ")) {
    p.what = kind::notice;
    p.text = line.substr(4);
  } else if (line.starts_with("* ")) {
    auto rest = line.substr(2);
    auto space = rest.find(' ');
    p.what = kind::action;
    p.nick = rest.substr(0, space);
    p.text = space == npos ? rest.substr(rest.size()) : rest.substr(space + 1);
  } else if (line.starts_with("-> *") && line.find("* ", 4) != npos) {
    auto end = line.find("* ", 4);
    p.what = kind::private_sent;
    p.nick = line.substr(4, end - 4);
    p.text = line.substr(end + 2);
  } else if (line.starts_with("*") && line.find("* ", 1) != npos) {
    auto end = line.find("* ", 1);
    p.what = kind::private_message;
    p.nick = line.substr(1, end - 1);
    p.text = line.substr(end + 2);
  } else {
    p.text = line;
  }
  return p;
}

std::optional<std::string_view> welcomed_nick(std::string_view text) {
  if (!text.starts_with("welcome to ")) return std::nullopt;
  auto comma = text.find(", ");
  if (comma == std::string_view::npos) return std::nullopt;
  auto colon = text.find(':', comma);
  if (colon == std::string_view::npos) return std::nullopt;
  return text.substr(comma + 2, colon - comma - 2);
}

std::optional<std::string_view> renamed_to(std::string_view text, std::string_view old_nick) {
  constexpr std::string_view middle = " is now known as ";
  if (old_nick.empty() || !text.starts_with(old_nick) ||
      !text.substr(old_nick.size()).starts_with(middle))
    return std::nullopt;
  return text.substr(old_nick.size() + middle.size());
}

}  // namespace sockit::service::chat_lines
