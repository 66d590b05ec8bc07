// libFuzzer target for chat line handling: what a line becomes (parse_chat_line) and the
// nick and room rules. Views stay inside the line, arguments have no outer spaces, the
// command word ignores ASCII case, and an accepted nick or room is made only of the
// allowed characters, so it can be echoed to every member as it is.
#include <string>

#include "fuzz_check.hpp"
#include "sockit/service/chat_command.hpp"

namespace {

using sockit::service::chat_command;
using sockit::service::check_nick;
using sockit::service::check_room;
using sockit::service::parse_chat_line;
using kind = chat_command::kind;

bool inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

void check_names(std::string_view s) {
  const bool nick_ok = check_nick(s).empty();
  bool want = !s.empty() && s.size() <= 24 && letter(s.front());
  for (char c : s) want = want && name_char(c);
  FUZZ_CHECK(nick_ok == want);
  const bool room_ok = check_room(s).empty();
  want = s.size() >= 2 && s.size() <= 25 && s.front() == '#';
  for (char c : s.substr(s.empty() ? 0 : 1)) want = want && name_char(c);
  FUZZ_CHECK(room_ok == want);
  // Every nick is also a valid room name after '#'; no name is both.
  if (nick_ok) FUZZ_CHECK(check_room("#" + std::string(s)).empty() && !room_ok);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line = sockit_fuzz::as_text(data, size);
  const chat_command c = parse_chat_line(line);
  FUZZ_CHECK(inside(c.word, line) && inside(c.arg, line) && inside(c.target, line) &&
             inside(c.text, line));

  if (line.empty()) {
    FUZZ_CHECK(c.what == kind::none);
  } else if (line.front() != '/') {
    FUZZ_CHECK(c.what == kind::say && c.arg == line);
  } else if (line.starts_with("//")) {
    FUZZ_CHECK(c.what == kind::say && c.arg == line.substr(1));
  } else {
    FUZZ_CHECK(c.what != kind::none && c.what != kind::say);
    FUZZ_CHECK(c.word.data() == line.data() && c.word.starts_with('/'));
    FUZZ_CHECK(c.word.find(' ') == std::string_view::npos);
    FUZZ_CHECK(c.word.size() == line.size() || line[c.word.size()] == ' ');
    FUZZ_CHECK(!c.arg.starts_with(' ') && !c.arg.ends_with(' '));
    FUZZ_CHECK(c.word.size() < line.size() || c.arg.empty());
    if (c.what == kind::msg) {
      FUZZ_CHECK(c.target.find(' ') == std::string_view::npos);
      if (!c.target.empty()) {
        // NICK, one space, TEXT: nothing of the argument is lost.
        FUZZ_CHECK(c.arg.size() == c.target.size() + 1 + c.text.size());
        FUZZ_CHECK(c.arg.starts_with(c.target) && c.arg.ends_with(c.text));
      } else {
        FUZZ_CHECK(c.arg.find(' ') == std::string_view::npos);
      }
    } else {
      FUZZ_CHECK(c.target.empty() && c.text.empty());
    }
    // The command word ignores ASCII case; the argument is taken as sent.
    std::string flipped(line);
    for (std::size_t i = 0; i < c.word.size(); ++i) {
      char& ch = flipped[i];
      if (ch >= 'a' && ch <= 'z') {
        ch = static_cast<char>(ch - 'a' + 'A');
      } else if (ch >= 'A' && ch <= 'Z') {
        ch = static_cast<char>(ch - 'A' + 'a');
      }
    }
    const chat_command f = parse_chat_line(flipped);
    FUZZ_CHECK(f.what == c.what && f.arg == c.arg && f.target == c.target && f.text == c.text);
    // A command rebuilt from its parts means the same again.
    if (c.what != kind::unknown) {
      std::string rebuilt(c.word);
      if (!c.arg.empty()) rebuilt += " " + std::string(c.arg);
      const chat_command r = parse_chat_line(rebuilt);
      FUZZ_CHECK(r.what == c.what && r.arg == c.arg && r.target == c.target && r.text == c.text);
    }
  }

  check_names(line);
  check_names(c.arg);
  if (c.what == kind::msg) check_names(c.target);
  return 0;
}
