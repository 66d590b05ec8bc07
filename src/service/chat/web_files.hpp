// The chat page's files, built into the binary from src/service/chat/web/ (embed.cmake
// writes the table), so `chat serve --web` needs no file on disk and the page no network.
#pragma once

#include <string_view>

namespace sockit::service::chat {

struct web_file {
  std::string_view path;          // "/", "/chat.css", "/chat.js"
  std::string_view content_type;  // with charset
  std::string_view body;
};

/// The file served at `path` (no query), or null.
const web_file* find_web_file(std::string_view path);

}  // namespace sockit::service::chat
