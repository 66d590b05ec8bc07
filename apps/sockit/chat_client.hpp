// The `sockit chat join` client: a terminal line editor that incoming lines never garble,
// or plain lines (or JSON events) when stdin/stdout are not a terminal.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace sockit::cli {

struct chat_join_options {
  std::string endpoint;
  std::string nick;
  bool json = false;
};

int run_chat_join(const chat_join_options& options);

/// One line from a chat server as a JSON event: message, action, private, private_sent,
/// notice, or line (anything else). "[HH:MM:SS] " prefixes become "time".
nlohmann::json chat_line_to_json(std::string_view line);

}  // namespace sockit::cli
