// What one chat line asks for, as a pure function of its text (no I/O, no Asio), so the
// rules are unit-tested and fuzzed apart from the server; plus the nick and room name rules.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sockit::service {

/// One parsed line. Every view points into the line it was parsed from.
struct chat_command {
  enum class kind : std::uint8_t {
    none,     // an empty line: nothing happens
    say,      // text goes to the room ("//x" is the text "/x")
    nick,     // /nick [NAME]      arg = NAME (empty: "who am I")
    list,     // /list, /who, /names
    msg,      // /msg NICK TEXT    target, text (target empty: usage)
    me,       // /me ACTION        arg = ACTION (empty: usage)
    join,     // /join [#ROOM]     arg = #ROOM (empty: "where am I")
    rooms,    // /rooms
    quit,     // /quit [REASON]    arg = REASON
    help,     // /help
    unknown,  // any other /word   word = the command as typed
  };
  kind what = kind::none;
  std::string_view word;    // the command as typed, "/" included (empty for none and say)
  std::string_view arg;     // say: the text; commands: the rest, without outer spaces
  std::string_view target;  // msg: the nick, never empty unless it is a usage error
  std::string_view text;    // msg: everything after the space that ends the nick
};

/// Parses one line (without its line ending). Commands are "/" plus a word matched without
/// regard to ASCII case, then optionally a space and the argument; only spaces (not tabs)
/// separate. Never fails: an unknown command is kind::unknown. Does not allocate.
chat_command parse_chat_line(std::string_view line) noexcept;

/// Nicknames: 1-24 characters, a letter first, then letters, digits, '_' or '-'.
/// Returns an empty string when `nick` is valid, else the reason.
std::string check_nick(std::string_view nick);

/// Rooms: '#' then 1-24 letters, digits, '_' or '-'. Empty string when valid.
std::string check_room(std::string_view room);

}  // namespace sockit::service
