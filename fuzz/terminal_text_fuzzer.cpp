// libFuzzer target for net/terminal_text: whatever the input, both renderings are valid UTF-8
// with no C0, DEL, C1, bidi or zero-width code point; the escapes lose nothing (an input
// without '\' and without anything to escape comes back as it was); neutralize is idempotent.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sockit/net/terminal_text.hpp"

namespace {

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "terminal_text property broken: %s\n", what);
  std::abort();
}

// Strict UTF-8 decode; false on invalid UTF-8 or a dangerous code point.
bool terminal_safe(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    unsigned c = p[i];
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    }
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || sockit::net::is_dangerous_code_point(cp))
      return false;
    // Independent of is_dangerous_code_point: the byte-level promise.
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) return false;
    i += len;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string esc = sockit::net::escape_terminal_text(in);
  std::string neu = sockit::net::neutralize(in);
  check(terminal_safe(esc), "escape_terminal_text output is not terminal-safe");
  check(terminal_safe(neu), "neutralize output is not terminal-safe");
  check(sockit::net::neutralize(neu) == neu, "neutralize is not idempotent");
  if (terminal_safe(in) && in.find('\\') == std::string_view::npos) {
    check(esc == in, "escape_terminal_text changed safe text");
    // neutralize only turns a tab into a space; safe text has no tab.
    check(neu == in, "neutralize changed safe text");
  }
  return 0;
}
