// terminal_text: the one rule for text that came from a peer and is about to be shown to a
// person (a file name, a server's error message, a chat line). One strict UTF-8 decoder and
// one list of dangerous code points; two renderings of what it finds: escapes for the CLI's
// own output and caret notation / U+FFFD for chat lines relayed to other people.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sockit::net {

/// Code points that change how a terminal shows the rest of a line, or hide what is there:
/// C0 controls and DEL, C1 controls (U+0080-U+009F, 8-bit CSI among them), zero-width
/// characters (U+200B-U+200F, U+2060-U+2064, U+FEFF), bidirectional controls (U+061C,
/// U+200E/F, U+202A-U+202E, U+2066-U+2069), the line/paragraph separators U+2028/9, and the
/// rest of Unicode's Default_Ignorable_Code_Point set (soft hyphen, fillers, tag
/// characters...) except the variation selectors.
bool is_dangerous_code_point(std::uint32_t cp) noexcept;

/// For the CLI's output: printable ASCII and well-formed, harmless UTF-8 pass unchanged;
/// '\' becomes "\\", C0/DEL bytes and every byte that does not start valid UTF-8 become
/// \xNN, other dangerous code points \u{NNNN}. Lossless (no two inputs give the same text)
/// and never contains a control character or invalid UTF-8.
std::string escape_terminal_text(std::string_view text);

/// For relaying chat: C0 controls and DEL in caret notation (ESC is ^[, like cat -v), a tab
/// becomes a space, invalid UTF-8 (per byte) and the other dangerous code points become
/// U+FFFD. Valid UTF-8 without dangerous code points passes unchanged ('\' included).
std::string neutralize(std::string_view text);

}  // namespace sockit::net
