// terminal_text: one scanner (strict UTF-8, one classification) feeding two renderings.
// Free of Asio and fmt, so the fuzz targets can link it alone.
#include "sockit/net/terminal_text.hpp"

namespace sockit::net {
namespace {

enum class piece { safe, control, invalid, dangerous };

// Calls emit(kind, bytes, code_point) for each piece of `text`, in order: a run of safe bytes,
// one C0/DEL byte, one byte that does not start a valid UTF-8 sequence (the scan resumes at
// the next byte, so a broken sequence costs one piece per byte), or one dangerous code point.
template <class Emit>
void scan(std::string_view text, Emit&& emit) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t run = 0;  // start of the pending run of safe bytes
  auto flush = [&](std::size_t end) {
    if (end > run) emit(piece::safe, text.substr(run, end - run), 0);
  };
  for (std::size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c >= 0x20 && c < 0x7f) {
      ++i;
      continue;
    }
    if (c < 0x80) {  // C0 or DEL
      flush(i);
      emit(piece::control, text.substr(i, 1), c);
      run = ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (p[i + k] & 0xc0) == 0x80;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    // No overlongs, surrogates or code points past U+10FFFF.
    if (ok && ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
               (cp >= 0xd800 && cp <= 0xdfff))) {
      ok = false;
    }
    if (!ok) {
      flush(i);
      emit(piece::invalid, text.substr(i, 1), c);
      run = ++i;
      continue;
    }
    if (is_dangerous_code_point(cp)) {
      flush(i);
      emit(piece::dangerous, text.substr(i, len), cp);
      run = i + len;
    }
    i += len;
  }
  flush(n);
}

constexpr char hex_digits[] = "0123456789abcdef";

}  // namespace

bool is_dangerous_code_point(std::uint32_t cp) noexcept {
  return cp < 0x20 || cp == 0x7f ||         // C0, DEL
         (cp >= 0x80 && cp <= 0x9f) ||      // C1
         cp == 0x061c ||                    // Arabic letter mark
         (cp >= 0x200b && cp <= 0x200f) ||  // zero-width space..RLM
         cp == 0x2028 || cp == 0x2029 ||    // line / paragraph separator
         (cp >= 0x202a && cp <= 0x202e) ||  // bidi embeddings and overrides
         (cp >= 0x2060 && cp <= 0x2064) ||  // word joiner, invisible operators
         (cp >= 0x2066 && cp <= 0x2069) ||  // bidi isolates
         cp == 0xfeff ||                    // zero-width no-break space (BOM)
         // The rest of Unicode's Default_Ignorable_Code_Point set: shown as nothing, so a
         // name with one looks like a name without it. Variation selectors (U+FE00-FE0F,
         // U+E0100-E01EF) are left out: they change how the character before them looks
         // (emoji, CJK variants) and are in much ordinary text.
         cp == 0x00ad ||                      // soft hyphen
         cp == 0x034f ||                      // combining grapheme joiner
         cp == 0x115f || cp == 0x1160 ||      // Hangul choseong / jungseong fillers
         cp == 0x17b4 || cp == 0x17b5 ||      // Khmer inherent vowels
         (cp >= 0x180b && cp <= 0x180f) ||    // Mongolian free variation selectors, vowel sep.
         cp == 0x2065 ||                      // reserved in the invisible-operator block
         (cp >= 0x206a && cp <= 0x206f) ||    // deprecated format characters
         cp == 0x3164 || cp == 0xffa0 ||      // Hangul fillers
         (cp >= 0xfff0 && cp <= 0xfffb) ||    // interlinear annotation and unassigned specials
         (cp >= 0x1bca0 && cp <= 0x1bca3) ||  // shorthand format controls
         (cp >= 0x1d173 && cp <= 0x1d17a) ||  // musical symbol format controls
         (cp >= 0xe0000 && cp <= 0xe00ff) ||  // tag characters (and unassigned ignorables)
         (cp >= 0xe01f0 && cp <= 0xe0fff);    // unassigned default ignorables
}

std::string escape_terminal_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  scan(text, [&out](piece kind, std::string_view bytes, std::uint32_t cp) {
    switch (kind) {
      case piece::safe:
        for (char ch : bytes) {
          if (ch == '\\') out += '\\';
          out += ch;
        }
        break;
      case piece::control:
      case piece::invalid:
        out += "\\x";
        out += hex_digits[cp >> 4];
        out += hex_digits[cp & 0xf];
        break;
      case piece::dangerous: {
        out += "\\u{";
        int digits = cp > 0xffff ? 6 : 4;
        for (int d = digits - 1; d >= 0; --d) out += hex_digits[(cp >> (4 * d)) & 0xf];
        out += '}';
        break;
      }
    }
  });
  return out;
}

std::string neutralize(std::string_view text) {
  static constexpr std::string_view replacement = "\xef\xbf\xbd";  // U+FFFD
  std::string out;
  out.reserve(text.size());
  scan(text, [&out](piece kind, std::string_view bytes, std::uint32_t cp) {
    switch (kind) {
      case piece::safe:
        out.append(bytes);
        break;
      case piece::control:  // caret notation, like cat -v; a tab is just a space
        if (cp == '\t') {
          out += ' ';
        } else {
          out += '^';
          out += static_cast<char>(cp == 0x7f ? '?' : cp + 0x40);
        }
        break;
      case piece::invalid:
      case piece::dangerous:
        out.append(replacement);
        break;
    }
  });
  return out;
}

}  // namespace sockit::net
