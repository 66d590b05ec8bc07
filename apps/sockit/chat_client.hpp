// The `sockit chat join` client: a terminal line editor that incoming lines never garble,
// or plain lines (or JSON events) when stdin/stdout are not a terminal.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tls_options.hpp"

namespace sockit::cli {

struct chat_join_options {
  std::string endpoint;
  std::string nick;
  bool json = false;
  client_security security;  // --tls, how the room is trusted, --token-file
};

/// Returns the exit status: 0 when the user ended the session (/quit answered by "*** bye",
/// end of stdin, Ctrl-C/Ctrl-D, SIGINT/SIGTERM/SIGHUP), 1 when the server closed the
/// connection otherwise (turned away, dropped, idle timeout, room closing; one line on
/// stderr says so), 2 for a usage error (an invalid --nick or endpoint).
int run_chat_join(const chat_join_options& options);

/// The exit statuses above, for `chat join --help`.
inline constexpr const char* chat_join_exit_help =
    "Exit status: 0 when you leave (/quit, end of input, Ctrl-C/Ctrl-D); 1 when the server\n"
    "closes the connection first (room full, dropped, idle timeout, room closing); 2 for\n"
    "usage errors (an invalid --nick or endpoint).";

/// One line from a chat server as a JSON event: message, action, private, private_sent,
/// notice, or line (anything else). "[HH:MM:SS] " prefixes become "time". The line is
/// neutralised first (control characters in caret notation, invalid UTF-8 as U+FFFD): the
/// client trusts no server.
nlohmann::json chat_line_to_json(std::string_view line);

}  // namespace sockit::cli
