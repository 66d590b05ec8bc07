// Internal helpers for error messages in net/: quoting untrusted text safely.
#pragma once

#include <string>
#include <string_view>

namespace sockit::net {

/// 'text' in single quotes, with control and non-ASCII bytes as \xNN and at most 64
/// characters of it, so an error message can always be printed as it is.
inline std::string quote(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "'";
  std::size_t shown = 0;
  for (char ch : text) {
    if (++shown > 64) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += ch;
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out + "'";
}

}  // namespace sockit::net
