// Chat line parsing and the name rules: pure text functions shared by the chat server, its
// client and the fuzz target (this file must stay free of Asio and of I/O).
#include "sockit/service/chat_command.hpp"

#include <algorithm>

namespace sockit::service {
namespace {

bool equals_ascii_nocase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return true;
}

bool name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

constexpr std::size_t max_name = 24;

}  // namespace

chat_command parse_chat_line(std::string_view line) noexcept {
  using kind = chat_command::kind;
  chat_command c;
  if (line.empty()) return c;
  if (line.front() != '/' || line.starts_with("//")) {
    if (line.starts_with("//")) line.remove_prefix(1);
    c.what = kind::say;
    c.arg = line;
    return c;
  }
  auto space = line.find(' ');
  c.word = line.substr(0, space);
  std::string_view arg =
      space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);
  c.arg = arg;
  struct entry {
    std::string_view word;
    kind what;
  };
  static constexpr entry table[] = {
      {"/nick", kind::nick}, {"/list", kind::list}, {"/who", kind::list},  {"/names", kind::list},
      {"/msg", kind::msg},   {"/me", kind::me},     {"/join", kind::join}, {"/rooms", kind::rooms},
      {"/quit", kind::quit}, {"/help", kind::help},
  };
  c.what = kind::unknown;
  for (const auto& e : table) {
    if (equals_ascii_nocase(c.word, e.word)) {
      c.what = e.what;
      break;
    }
  }
  if (c.what == kind::msg) {
    // "/msg NICK TEXT": the nick ends at the first space; TEXT is kept as sent after it.
    auto gap = arg.find(' ');
    if (gap != std::string_view::npos) {
      c.target = arg.substr(0, gap);
      c.text = arg.substr(gap + 1);
    }
  }
  return c;
}

std::string check_nick(std::string_view nick) {
  if (nick.empty()) return "a nickname cannot be empty";
  if (nick.size() > max_name)
    return "a nickname has at most " + std::to_string(max_name) + " characters";
  char first = nick.front();
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z')))
    return "a nickname starts with a letter";
  if (!std::all_of(nick.begin(), nick.end(), name_char))
    return "a nickname has only letters, digits, '_' and '-'";
  return {};
}

std::string check_room(std::string_view room) {
  if (room.size() < 2 || room.front() != '#') return "a room name starts with '#', like #lobby";
  if (room.size() > max_name + 1)
    return "a room name has at most " + std::to_string(max_name) + " characters after '#'";
  if (!std::all_of(room.begin() + 1, room.end(), name_char))
    return "a room name has only letters, digits, '_' and '-' after '#'";
  return {};
}

}  // namespace sockit::service
