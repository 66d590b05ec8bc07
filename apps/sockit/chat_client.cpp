// sockit chat join: poll() on stdin and the socket. In a terminal, raw mode with a
// one-line editor (cursor keys, history): an incoming line clears the prompt line, prints,
// and redraws the prompt with what was being typed. Otherwise plain lines in and out.
#include "chat_client.hpp"

#include <langinfo.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include <wchar.h>

#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <clocale>
#include <csignal>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "output.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/service/chat.hpp"

namespace sockit::cli {
namespace {

volatile std::sig_atomic_t stop_requested = 0;
extern "C" void on_stop_signal(int) { stop_requested = 1; }

bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Puts the terminal in raw mode (no echo, byte at a time, no signals from keys) and
// restores it on destruction, whatever way the client ends.
class raw_terminal {
 public:
  raw_terminal() {
    if (::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG | IEXTEN);
    raw.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    active_ = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
  }
  ~raw_terminal() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
  }
  raw_terminal(const raw_terminal&) = delete;
  raw_terminal& operator=(const raw_terminal&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

std::string_view strip_time(std::string_view& line) {
  // "[HH:MM:SS] "
  if (line.size() >= 11 && line[0] == '[' && line[3] == ':' && line[6] == ':' && line[9] == ']' &&
      line[10] == ' ') {
    auto t = line.substr(1, 8);
    line.remove_prefix(11);
    return t;
  }
  return {};
}

// Colour for a nick: stable per name, from the six that read on dark and light terminals.
const char* nick_color(std::string_view nick) {
  static const char* colors[] = {"31", "32", "33", "34", "35", "36"};
  unsigned h = 2166136261u;
  for (char c : nick) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return colors[h % 6];
}

std::string paint(bool color, const char* code, std::string_view s) {
  if (!color) return std::string(s);
  return fmt::format("\x1b[{}m{}\x1b[0m", code, s);
}

// Text from the server (or typed here) is made inert for a terminal with the server's own
// rule, service::neutralize, applied again because the client trusts no server: control
// characters (ESC among them) in caret notation, invalid UTF-8 and bidi overrides as U+FFFD.
// Unlike escape_for_terminal it leaves '\' alone, so `\o/` reads as typed; and it is
// idempotent, so a line the server already neutralised shows unchanged.

// A server line for the terminal: made safe, timestamp dimmed, nick coloured.
std::string render(std::string_view raw, bool color) {
  std::string safe = service::neutralize(raw);
  std::string_view line = safe;
  auto t = strip_time(line);
  std::string out = t.empty() ? std::string() : paint(color, "2", fmt::format("[{}]", t)) + " ";
  if (line.starts_with("<")) {
    auto end = line.find("> ");
    if (end != std::string_view::npos) {
      auto nick = line.substr(1, end - 1);
      return out + paint(color, nick_color(nick), fmt::format("<{}>", nick)) +
             std::string(line.substr(end + 1));
    }
  } else if (line.starts_with("* ")) {
    auto rest = line.substr(2);
    auto nick = rest.substr(0, rest.find(' '));
    return out + paint(color, nick_color(nick), fmt::format("* {}", nick)) +
           std::string(rest.substr(nick.size()));
  } else if (line.starts_with("***")) {
    return out + paint(color, "2", line);
  } else if (line.starts_with("*") || line.starts_with("-> *")) {
    return out + paint(color, "1", line);
  }
  return out + std::string(line);
}

unsigned terminal_columns() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }

// wcwidth() needs a UTF-8 LC_CTYPE; the environment's when it is one, else C.UTF-8.
void use_utf8_ctype() {
  std::setlocale(LC_CTYPE, "");
  if (std::strcmp(::nl_langinfo(CODESET), "UTF-8") != 0) std::setlocale(LC_CTYPE, "C.UTF-8");
}

// Terminal columns of the character starting at byte `i` of `s` (a lead byte and its
// continuation bytes): 2 for CJK and most emoji, 0 for combining marks, 1 when wcwidth()
// does not know (malformed UTF-8, no UTF-8 locale, unassigned code points).
std::size_t columns_at(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  std::size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
  char32_t cp = len == 4 ? c & 0x07 : len == 3 ? c & 0x0f : c & 0x1f;
  for (std::size_t k = 1; k < len; ++k) {
    if (i + k >= s.size() || !continuation(s[i + k])) return 1;
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  }
  int w = ::wcwidth(static_cast<wchar_t>(cp));
  return w < 0 ? 1 : static_cast<std::size_t>(w);
}

// The byte after the character starting at `i`.
std::size_t next_char(std::string_view s, std::size_t i) {
  ++i;
  while (i < s.size() && continuation(s[i])) ++i;
  return i;
}

std::size_t columns(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); i = next_char(s, i)) n += columns_at(s, i);
  return n;
}

// The line being typed (UTF-8 bytes) with a cursor, and the lines sent before (Up/Down).
// Keys understood: printable text, Backspace, Delete, Left/Right, Home/End (also Ctrl-A/E),
// Up/Down through history, Ctrl-U/K/W (kill to start, to end, word before the cursor).
struct editor {
  std::string text;
  std::size_t cursor = 0;  // byte offset into text, always on a code point boundary
  std::string prompt = "> ";
  std::vector<std::string> history;  // oldest first
  std::size_t recalled = 0;          // index into history; == size() means the draft
  std::string draft;                 // what was being typed before Up was pressed
  static constexpr std::size_t max_history = 500;
  static constexpr std::size_t max_text = 16384;

  // Escape sequences from keys arrive as bytes: ESC, then '[' (CSI) or 'O' (SS3), then
  // parameters and a final byte.
  int escape_state = 0;  // 0 none, 1 after ESC, 2 in CSI, 3 after SS3
  std::string escape_params;

  // The part of the line that fits, with the cursor placed in it, so the prompt line never
  // wraps (a wrapped line would garble redraws). Measured in terminal columns (wide CJK and
  // emoji take two), so the cursor lands where the terminal drew the character.
  std::string draw() const {
    unsigned cols = terminal_columns();
    std::size_t room = cols > prompt.size() + 1 ? cols - prompt.size() - 1 : 1;
    std::string_view t = text;
    // Scrolled just far enough that the cursor is within `room` columns of the start.
    std::size_t begin = 0;
    std::size_t before = columns(t.substr(0, cursor));  // columns from `begin` to the cursor
    while (before > room && begin < cursor) {
      before -= std::min(before, columns_at(t, begin));
      begin = next_char(t, begin);
    }
    std::size_t end = begin;
    for (std::size_t used = 0; end < t.size();) {
      std::size_t w = columns_at(t, end);
      if (used + w > room) break;  // a wide character never straddles the edge
      used += w;
      end = next_char(t, end);
    }
    std::string out = "\r\x1b[K" + prompt + text.substr(begin, end - begin) + "\r";
    std::size_t column = prompt.size() + before;
    if (column > 0) out += fmt::format("\x1b[{}C", column);
    return out;
  }

  void insert(char c) {
    if (text.size() >= max_text) return;
    text.insert(cursor, 1, c);
    ++cursor;
  }
  void left() {
    while (cursor > 0) {
      --cursor;
      if (!continuation(text[cursor])) break;
    }
  }
  void right() {
    if (cursor >= text.size()) return;
    ++cursor;
    while (cursor < text.size() && continuation(text[cursor])) ++cursor;
  }
  void erase_before() {
    std::size_t end = cursor;
    left();
    text.erase(cursor, end - cursor);
  }
  void erase_at() {
    std::size_t start = cursor;
    right();
    text.erase(start, cursor - start);
    cursor = start;
  }
  void erase_word() {
    std::size_t end = cursor;
    while (cursor > 0 && text[cursor - 1] == ' ') --cursor;
    while (cursor > 0 && text[cursor - 1] != ' ') --cursor;
    text.erase(cursor, end - cursor);
  }
  void kill_to_start() {
    text.erase(0, cursor);
    cursor = 0;
  }
  void kill_to_end() { text.erase(cursor); }
  void set(std::string s) {
    text = std::move(s);
    cursor = text.size();
  }
  void older() {
    if (recalled == 0) return;
    if (recalled == history.size()) draft = text;
    set(history[--recalled]);
  }
  void newer() {
    if (recalled >= history.size()) return;
    ++recalled;
    set(recalled == history.size() ? draft : history[recalled]);
  }
  // Takes the finished line and remembers it (once, if the same as the last one).
  std::string submit() {
    std::string line = std::move(text);
    text.clear();
    cursor = 0;
    draft.clear();
    if (!line.empty() && (history.empty() || history.back() != line)) {
      history.push_back(line);
      if (history.size() > max_history) history.erase(history.begin());
    }
    recalled = history.size();
    return line;
  }

  // A complete key sequence: CSI (params + final) or SS3 (final). Returns whether it changed
  // anything worth a redraw.
  bool key_sequence(bool csi, char final_byte) {
    if (csi && final_byte == '~') {
      if (escape_params == "1" || escape_params == "7")
        final_byte = 'H';
      else if (escape_params == "4" || escape_params == "8")
        final_byte = 'F';
      else if (escape_params == "3")
        return erase_at(), true;
      else
        return false;
    }
    switch (final_byte) {
      case 'A':
        older();
        return true;
      case 'B':
        newer();
        return true;
      case 'C':
        right();
        return true;
      case 'D':
        left();
        return true;
      case 'H':
        cursor = 0;
        return true;
      case 'F':
        cursor = text.size();
        return true;
      default:
        return false;
    }
  }
};

std::string clock_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  return fmt::format("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// Learns our nick from the server's welcome and rename notices.
void track_nick(std::string_view line, std::string& me) {
  strip_time(line);
  if (line.starts_with("*** welcome to ")) {
    auto comma = line.find(", ");
    auto colon = line.find(':', comma == std::string_view::npos ? 0 : comma);
    if (comma != std::string_view::npos && colon != std::string_view::npos)
      me = std::string(line.substr(comma + 2, colon - comma - 2));
  } else if (line.starts_with("*** ") && !me.empty()) {
    std::string prefix = "*** " + me + " is now known as ";
    if (line.starts_with(prefix)) me = std::string(line.substr(prefix.size()));
  }
}

}  // namespace

nlohmann::json chat_line_to_json(std::string_view raw) {
  nlohmann::json j;
  std::string safe = service::neutralize(raw);
  std::string_view line = safe;
  auto t = strip_time(line);
  if (!t.empty()) j["time"] = std::string(t);
  auto set = [&](const char* event, std::string_view nick, std::string_view text) {
    j["event"] = event;
    if (!nick.empty()) j["nick"] = std::string(nick);
    j["text"] = std::string(text);
  };
  if (line.starts_with("<") && line.find("> ") != std::string_view::npos) {
    auto end = line.find("> ");
    set("message", line.substr(1, end - 1), line.substr(end + 2));
  } else if (line.starts_with("*** ")) {
    set("notice", {}, line.substr(4));
  } else if (line.starts_with("* ")) {
    auto rest = line.substr(2);
    auto sp = rest.find(' ');
    set("action", rest.substr(0, sp), sp == std::string_view::npos ? "" : rest.substr(sp + 1));
  } else if (line.starts_with("-> *") && line.find("* ", 4) != std::string_view::npos) {
    auto end = line.find("* ", 4);
    set("private_sent", line.substr(4, end - 4), line.substr(end + 2));
    j["to"] = j["nick"];
    j.erase("nick");
  } else if (line.starts_with("*") && line.find("* ", 1) != std::string_view::npos) {
    auto end = line.find("* ", 1);
    set("private", line.substr(1, end - 1), line.substr(end + 2));
  } else {
    set("line", {}, line);
  }
  return j;
}

namespace {

// "/quit" or "/quit REASON", as the server reads it (the command is case-insensitive).
bool is_quit(std::string_view line) {
  if (line.size() < 5 || (line.size() > 5 && line[5] != ' ')) return false;
  std::string cmd(line.substr(0, 5));
  for (auto& c : cmd) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return cmd == "/quit";
}

}  // namespace

int run_chat_join(const chat_join_options& o) {
  // Usage errors, before any connection: a nick with a space or newline in it would
  // otherwise smuggle commands into the "/nick" line.
  std::error_code ec;
  std::string why;
  auto endpoint = net::endpoint::parse(o.endpoint, ec, why);
  if (ec) {
    fmt::print(stderr, "sockit: chat join: {}\n", escape_for_terminal(why));
    return 2;
  }
  if (!o.nick.empty()) {
    std::string bad = service::check_nick(o.nick);
    if (!bad.empty()) {
      fmt::print(stderr, "sockit: chat join: --nick '{}': {}\n", escape_for_terminal(o.nick), bad);
      return 2;
    }
  }
  net::socket sock = net::socket::connect(endpoint, ec, &why);
  if (ec) throw std::system_error(ec, why);
  if (!o.nick.empty()) {
    sock.send_all(net::as_bytes("/nick " + o.nick + "\n"), ec);
    if (ec) throw std::system_error(ec, "send");
  }

  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);

  const bool tty = !o.json && ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
  const bool color = tty && use_color(stdout);
  // Plain lines go out as they came, for scripts; but never raw to a terminal.
  const bool plain_safe = !tty && !o.json && ::isatty(STDOUT_FILENO);
  std::optional<raw_terminal> raw;
  editor ed;
  std::string me = o.nick;
  if (tty) {
    use_utf8_ctype();
    raw.emplace();
    write_all(STDOUT_FILENO, ed.draw());
  }

  // Who ended the session decides the exit status: the user (end of input, Ctrl-C/D, a
  // signal, or /quit answered by "*** bye") or the server (anything else).
  bool user_ended = false;
  bool quit_sent = false;
  bool bye_seen = false;
  std::string last_line;  // the server's last line, to say why it closed

  // Everything printed goes through here: in a terminal it lands above the prompt line.
  auto show = [&](std::string_view server_line) {
    std::string_view bare = server_line;
    strip_time(bare);
    if (bare == "*** bye") bye_seen = true;
    last_line.assign(bare.substr(0, 256));
    if (o.json) {
      print_json(chat_line_to_json(server_line));
    } else if (tty) {
      write_all(STDOUT_FILENO, "\r\x1b[K" + render(server_line, color) + "\r\n" + ed.draw());
    } else {
      std::string s = plain_safe ? service::neutralize(server_line) : std::string(server_line);
      s += '\n';
      write_all(STDOUT_FILENO, s);
    }
  };
  auto send_line = [&](std::string_view text) {
    if (is_quit(text)) quit_sent = true;
    std::string s(text);
    s += '\n';
    std::error_code sec;
    sock.send_all(net::as_bytes(s), sec);
    return !sec;
  };
  // The connection is gone: fine if the user ended the session, else say so and exit 1. A
  // reset means the server closed without reading what we sent (a full room turns us away
  // so), even when our end of input was already on its way.
  int status = 0;
  auto closed = [&](std::string_view how, bool reset) {
    if ((user_ended || (quit_sent && bye_seen)) && !reset) {
      if (tty) write_all(STDOUT_FILENO, "\r\x1b[K*** disconnected\r\n");
      return;
    }
    status = 1;
    if (tty) write_all(STDOUT_FILENO, "\r\x1b[K");
    std::string msg = fmt::format("sockit: chat join: the server closed the connection{}", how);
    if (!last_line.empty())
      msg += fmt::format("; its last line: {}", service::neutralize(last_line));
    print_line(msg, stderr);
  };

  std::string from_server, from_stdin;
  bool stdin_open = true;
  bool gone = false;  // the connection failed while sending typed text
  char buf[16384];
  for (;;) {
    if (stop_requested) {
      user_ended = true;
      send_line("/quit");
      break;
    }
    pollfd fds[2] = {{sock.native_handle(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    int n = ::poll(fds, stdin_open ? 2 : 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      status = 1;
      break;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      std::error_code rec;
      std::size_t got = sock.recv(std::as_writable_bytes(std::span(buf, sizeof buf)), rec);
      if (rec || got == 0) {
        if (!from_server.empty()) show(from_server);
        closed(rec ? fmt::format(" ({})", rec.message()) : std::string(), bool(rec));
        break;
      }
      from_server.append(buf, got);
      std::size_t start = 0, nl;
      while ((nl = from_server.find('\n', start)) != std::string::npos) {
        std::string_view line(from_server.data() + start, nl - start);
        if (line.ends_with('\r')) line.remove_suffix(1);
        track_nick(line, me);
        show(line);
        start = nl + 1;
      }
      from_server.erase(0, start);
      if (from_server.size() > 65536) {  // no newline for 64 KiB: show it as it is
        show(from_server);
        from_server.clear();
      }
    }
    if (stdin_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = ::read(STDIN_FILENO, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        stdin_open = false;
        user_ended = true;
        if (!tty) {
          if (!from_stdin.empty()) send_line(from_stdin);
          sock.shutdown_write(ec);  // the server sees EOF, says goodbye and closes
          continue;
        }
        send_line("/quit");
        continue;
      }
      if (!tty) {
        from_stdin.append(buf, static_cast<std::size_t>(got));
        std::size_t start = 0, nl;
        bool ok = true;
        while (ok && (nl = from_stdin.find('\n', start)) != std::string::npos) {
          ok = send_line(std::string_view(from_stdin.data() + start, nl - start));
          start = nl + 1;
        }
        from_stdin.erase(0, start);
        if (!ok) {
          closed(" (while sending)", true);
          break;
        }
        continue;
      }
      for (ssize_t i = 0; i < got; ++i) {
        unsigned char c = static_cast<unsigned char>(buf[i]);
        if (ed.escape_state == 1) {  // after ESC: '[' starts CSI, 'O' starts SS3
          ed.escape_state = c == '[' ? 2 : c == 'O' ? 3 : 0;
          ed.escape_params.clear();
          continue;
        }
        if (ed.escape_state == 2 || ed.escape_state == 3) {
          if (ed.escape_state == 2 && !(c >= 0x40 && c <= 0x7e)) {  // CSI parameter bytes
            if (ed.escape_params.size() < 16) ed.escape_params += static_cast<char>(c);
            continue;
          }
          bool csi = ed.escape_state == 2;
          ed.escape_state = 0;
          if (ed.key_sequence(csi, static_cast<char>(c))) write_all(STDOUT_FILENO, ed.draw());
          continue;
        }
        if (c == 0x1b) {
          ed.escape_state = 1;
        } else if (c == '\r' || c == '\n') {
          std::string text = ed.submit();
          if (text.empty()) {
            write_all(STDOUT_FILENO, ed.draw());
            continue;
          }
          if (!text.starts_with("/") || text.starts_with("//")) {
            std::string_view shown =
                text.starts_with("//") ? std::string_view(text).substr(1) : std::string_view(text);
            std::string who = me.empty() ? "me" : me;
            write_all(STDOUT_FILENO,
                      "\r\x1b[K" +
                          render(fmt::format("[{}] <{}> {}", clock_now(), who, shown), color) +
                          "\r\n");
          }
          write_all(STDOUT_FILENO, ed.draw());
          if (!send_line(text)) {
            closed(" (while sending)", true);
            gone = true;
            break;
          }
        } else if (c == 0x03 || (c == 0x04 && ed.text.empty())) {  // Ctrl-C, Ctrl-D
          stop_requested = 1;
        } else if (c == 0x0c) {  // Ctrl-L
          write_all(STDOUT_FILENO, "\x1b[H\x1b[2J" + ed.draw());
        } else if ((c >= 0x20 && c != 0x7f) || c == '\t') {
          ed.insert(static_cast<char>(c == '\t' ? ' ' : c));
          write_all(STDOUT_FILENO, ed.draw());
        } else {
          switch (c) {
            case 0x7f:
            case 0x08:
              ed.erase_before();
              break;  // Backspace
            case 0x04:
              ed.erase_at();
              break;  // Ctrl-D on a non-empty line
            case 0x01:
              ed.cursor = 0;
              break;  // Ctrl-A
            case 0x05:
              ed.cursor = ed.text.size();
              break;  // Ctrl-E
            case 0x02:
              ed.left();
              break;  // Ctrl-B
            case 0x06:
              ed.right();
              break;  // Ctrl-F
            case 0x10:
              ed.older();
              break;  // Ctrl-P
            case 0x0e:
              ed.newer();
              break;  // Ctrl-N
            case 0x15:
              ed.kill_to_start();
              break;  // Ctrl-U
            case 0x0b:
              ed.kill_to_end();
              break;  // Ctrl-K
            case 0x17:
              ed.erase_word();
              break;  // Ctrl-W
            default:
              continue;
          }
          write_all(STDOUT_FILENO, ed.draw());
        }
      }
      if (gone) break;
    }
  }
  if (stop_requested && tty) {
    // Read the goodbye briefly so the user sees it; never hang on a silent server.
    pollfd pfd{sock.native_handle(), POLLIN, 0};
    if (::poll(&pfd, 1, 300) > 0) {
      std::error_code rec;
      std::size_t got = sock.recv(std::as_writable_bytes(std::span(buf, sizeof buf)), rec);
      if (!rec && got > 0) {
        from_server.append(buf, got);
        if (from_server.find("*** bye") != std::string::npos)
          write_all(STDOUT_FILENO, "\r\x1b[K*** bye\r\n");
      }
    }
    write_all(STDOUT_FILENO, "\r\x1b[K");
  }
  return status;
}

}  // namespace sockit::cli
