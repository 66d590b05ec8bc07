// chat_lines: the text of every line the chat server sends that a client reads meaning
// into, written once: the server formats its lines with these functions and the client
// (`sockit chat join`) parses them with the ones below, so the two cannot drift apart.
// Pure text, no I/O and no Asio.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sockit::service::chat_lines {

// ---- formatting (the server's side). Nicks, rooms and text are passed already made safe
// (net::neutralize); none of these adds the time prefix or the line ending.

/// "[HH:MM:SS] ", the prefix of every line the server sends.
std::string time_prefix(int hours, int minutes, int seconds);

/// "<NICK> TEXT": a line said in the room.
std::string message(std::string_view nick, std::string_view text);
/// "* NICK ACTION": /me.
std::string action(std::string_view nick, std::string_view text);
/// "*FROM* TEXT": a private message, as its target reads it.
std::string private_message(std::string_view from, std::string_view text);
/// "-> *TO* TEXT": the sender's copy of its private message.
std::string private_sent(std::string_view to, std::string_view text);
/// "*** TEXT": anything the server itself says.
std::string notice(std::string_view text);

/// "*** welcome to ROOM, NICK: COUNT here. /help lists the commands"
std::string welcome(std::string_view room, std::string_view nick, std::size_t count);
/// "*** OLD is now known as NEW"
std::string renamed(std::string_view old_nick, std::string_view new_nick);
/// "*** NICK joined ROOM"
std::string joined(std::string_view nick, std::string_view room);
/// "*** NICK left (WHY)"
std::string left(std::string_view nick, std::string_view why);
/// "*** NICK left for ROOM"
std::string left_for(std::string_view nick, std::string_view room);
/// Why a member was dropped: the room's word for it, and the member's own last line (best
/// effort: it is read only if the member reads).
enum class drop_reason {
  not_reading,     // its queue full, it read nothing for --drop-after (or the room said more)
  reading_slowly,  // it read, but fell twice --max-queue behind the room
  excess_flood,    // over its --rate with more input waiting than the room will hold
};
/// "*** NICK was dropped (not reading)", "(reading too slowly)" or "(excess flood)".
std::string dropped(std::string_view nick, drop_reason why = drop_reason::not_reading);
/// "*** disconnected: ..." saying why, to the member itself.
std::string_view dropped_goodbye(drop_reason why);
/// "not reading", "reading too slowly", "excess flood".
std::string_view drop_words(drop_reason why);
/// "*** COUNT in ROOM: A, B, C" (the names in the order given)
std::string member_list(std::string_view room, std::span<const std::string_view> nicks);
/// "*** WHY, try again later": why a connection was turned away.
std::string turned_away(std::string_view why);
/// The answer to /quit, the last line before the server closes.
inline constexpr std::string_view bye = "*** bye";
/// A private room's first line to a newcomer (chat serve --token-file); the next line the
/// newcomer sends must be the token. Clients that hold a token answer it.
inline constexpr std::string_view token_prompt =
    "*** this room is private: send its token as your first line";
inline constexpr std::string_view wrong_token = "*** wrong token, bye";

// ---- parsing (the client's side). Lines without their line ending.

/// Takes a leading "[HH:MM:SS] " off `line` and returns "HH:MM:SS"; empty (and `line`
/// unchanged) when there is none.
std::string_view split_time(std::string_view& line);

/// What one server line is. Views point into the line parsed.
struct parsed_line {
  enum class kind {
    message,          // "<nick> text"
    action,           // "* nick text"
    private_message,  // "*nick* text"
    private_sent,     // "-> *nick* text" (nick: the target)
    notice,           // "*** text"
    other,            // anything else: text is the whole line
  };
  kind what = kind::other;
  std::string_view time;  // "HH:MM:SS", or empty
  std::string_view nick;
  std::string_view text;
};

/// Classifies one line (in the order above; the first form that matches wins).
parsed_line parse(std::string_view line);

/// The nick in a welcome notice's text (what follows "*** "), if it is one.
std::optional<std::string_view> welcomed_nick(std::string_view notice_text);
/// The new nick in "OLD is now known as NEW" (a notice's text) when OLD is `old_nick`.
std::optional<std::string_view> renamed_to(std::string_view notice_text, std::string_view old_nick);
/// Whether `line` (time prefix already taken off) is the goodbye that answers /quit.
inline bool is_bye(std::string_view line) { return line == bye; }

}  // namespace sockit::service::chat_lines
