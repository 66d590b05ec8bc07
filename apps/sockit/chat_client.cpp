// sockit chat join: poll() on stdin and the socket. In a terminal, raw mode with the
// one-line editor of line_editor.hpp: an incoming line clears the prompt line, prints, and
// redraws the prompt with what was being typed. Otherwise plain lines in and out. What the
// server's lines mean is read with chat_lines.hpp, the formats the server writes them in.
#include "chat_client.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <optional>
#include <string>

#include "line_editor.hpp"
#include "output.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/service/chat.hpp"
#include "sockit/service/chat_lines.hpp"
#include "sockit/service/tls_pump.hpp"

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

// A server line for the terminal: made safe, timestamp dimmed, nick coloured, the server's
// notices dim and private lines bold (the forms of chat_lines.hpp).
std::string render(std::string_view raw, bool color) {
  using kind = service::chat_lines::parsed_line::kind;
  std::string safe = service::neutralize(raw);
  const auto p = service::chat_lines::parse(safe);
  std::string out =
      p.time.empty() ? std::string() : paint(color, "2", fmt::format("[{}]", p.time)) + " ";
  // The line as sent, after its time prefix; and what follows the nick.
  std::string_view line(safe);
  service::chat_lines::split_time(line);
  // What follows the nick (message and action: the nick, even empty, points into `line`).
  auto after_nick = [&] { return line.substr(p.nick.data() + p.nick.size() - line.data()); };
  switch (p.what) {
    case kind::message:
      return out + paint(color, nick_color(p.nick), fmt::format("<{}>", p.nick)) +
             std::string(after_nick().substr(1));  // after the '>'
    case kind::action:
      return out + paint(color, nick_color(p.nick), fmt::format("* {}", p.nick)) +
             std::string(after_nick());
    case kind::notice:
      return out + paint(color, "2", line);
    case kind::private_message:
    case kind::private_sent:
      return out + paint(color, "1", line);
    case kind::other:
      break;
  }
  return out + std::string(line);
}

unsigned terminal_columns() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

// "[HH:MM:SS] " now, as the server stamps its lines.
std::string clock_prefix() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  return service::chat_lines::time_prefix(tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// Learns our nick from the server's welcome and rename notices.
void track_nick(std::string_view line, std::string& me) {
  const auto p = service::chat_lines::parse(line);
  if (p.what != service::chat_lines::parsed_line::kind::notice) return;
  if (auto nick = service::chat_lines::welcomed_nick(p.text)) {
    me = std::string(*nick);
  } else if (auto renamed = service::chat_lines::renamed_to(p.text, me)) {
    me = std::string(*renamed);
  }
}

}  // namespace

nlohmann::json chat_line_to_json(std::string_view raw) {
  using kind = service::chat_lines::parsed_line::kind;
  nlohmann::json j;
  std::string safe = service::neutralize(raw);
  const auto p = service::chat_lines::parse(safe);
  if (!p.time.empty()) j["time"] = std::string(p.time);
  const char* event = "line";
  switch (p.what) {
    case kind::message:
      event = "message";
      break;
    case kind::action:
      event = "action";
      break;
    case kind::private_message:
      event = "private";
      break;
    case kind::private_sent:
      event = "private_sent";
      break;
    case kind::notice:
      event = "notice";
      break;
    case kind::other:
      break;
  }
  j["event"] = event;
  if (p.what == kind::private_sent)
    j["to"] = p.nick.empty() ? nlohmann::json() : nlohmann::json(std::string(p.nick));
  else if (!p.nick.empty())
    j["nick"] = std::string(p.nick);
  j["text"] = std::string(p.text);
  return j;
}

namespace {

// Reads until `out` holds a whole line (or 64 KiB), for at most 2 s; false if none came.
bool read_first_line(net::socket& sock, std::string& out) {
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (out.find('\n') == std::string::npos && out.size() < 65536) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{sock.native_handle(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    std::error_code ec;
    std::size_t got = sock.recv(std::as_writable_bytes(std::span(buf, sizeof buf)), ec);
    if (ec || got == 0) return false;  // the main loop sees the end again and reports it
    out.append(buf, got);
  }
  return out.find('\n') != std::string::npos;
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
  check_trust_needs_tls(o.security);
  net::socket sock = net::socket::connect(endpoint, ec, &why);
  if (ec) throw std::system_error(ec, why);
  // TLS: the client talks to the pump's end of a socketpair (tls_pump.hpp).
  std::unique_ptr<service::tls_pump> pump;
  if (o.security.tls) {
    pump = service::tls_pump::connect(
        std::move(sock), trust_policy_of(o.security), endpoint.to_string(),
        endpoint.is_unix() ? std::string() : endpoint.host(), 30, ec, why);
    if (!pump) {
      fmt::print(stderr, "sockit: chat join: {}\n", escape_for_terminal(why));
      return 1;
    }
    sock = pump->plain_socket();
  }
  // A private room's first line asks for its token; a public room's is its welcome, at
  // once. So the token is sent only to a room that asked (a SOCKIT_TOKEN meant for another
  // server is never said aloud in a public room), and nothing typed is sent before the
  // first line, or a short wait for a server that greets no one.
  std::string from_server;
  if (read_first_line(sock, from_server)) {
    std::string_view first(from_server.data(), from_server.find('\n'));
    if (first.ends_with('\r')) first.remove_suffix(1);
    service::chat_lines::split_time(first);
    if (first == service::chat_lines::token_prompt) {
      std::string t = client_token(o.security, endpoint.to_string());
      if (t.empty()) {
        fmt::print(stderr,
                   "sockit: chat join: this room is private: give its token with SOCKIT_TOKEN "
                   "or --token-file (never on the command line)\n");
        return 1;
      }
      sock.send_all(net::as_bytes(t + "\n"), ec);
      if (ec) throw std::system_error(ec, "send");
      from_server.erase(0, from_server.find('\n') + 1);
    }
  }
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
  line_editor ed;
  std::string me = o.nick;
  if (tty) {
    use_utf8_ctype();
    raw.emplace();
    write_all(STDOUT_FILENO, ed.draw(terminal_columns()));
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
    service::chat_lines::split_time(bare);
    if (service::chat_lines::is_bye(bare)) bye_seen = true;
    last_line.assign(bare.substr(0, 256));
    if (o.json) {
      print_json(chat_line_to_json(server_line));
    } else if (tty) {
      write_all(STDOUT_FILENO,
                "\r\x1b[K" + render(server_line, color) + "\r\n" + ed.draw(terminal_columns()));
    } else {
      std::string s = plain_safe ? service::neutralize(server_line) : std::string(server_line);
      s += '\n';
      write_all(STDOUT_FILENO, s);
    }
  };
  auto send_line = [&](std::string_view text) {
    if (service::parse_chat_line(text).what == service::chat_command::kind::quit) quit_sent = true;
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

  std::string from_stdin;
  auto show_lines = [&] {
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
  };
  show_lines();  // what came with the first line
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
      show_lines();
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
        switch (ed.key(static_cast<unsigned char>(buf[i]))) {
          case line_editor::action::none:
            break;
          case line_editor::action::redraw:
            write_all(STDOUT_FILENO, ed.draw(terminal_columns()));
            break;
          case line_editor::action::interrupt:
            stop_requested = 1;
            break;
          case line_editor::action::clear_screen:
            write_all(STDOUT_FILENO, "\x1b[H\x1b[2J" + ed.draw(terminal_columns()));
            break;
          case line_editor::action::submit: {
            std::string text = ed.submit();
            if (text.empty()) {
              write_all(STDOUT_FILENO, ed.draw(terminal_columns()));
              break;
            }
            // What we say is shown as the others will see it (the server does not echo it).
            const auto cmd = service::parse_chat_line(text);
            if (cmd.what == service::chat_command::kind::say) {
              std::string who = me.empty() ? "me" : me;
              write_all(
                  STDOUT_FILENO,
                  "\r\x1b[K" +
                      render(clock_prefix() + service::chat_lines::message(who, cmd.arg), color) +
                      "\r\n");
            }
            write_all(STDOUT_FILENO, ed.draw(terminal_columns()));
            if (!send_line(text)) {
              closed(" (while sending)", true);
              gone = true;
            }
            break;
          }
        }
        if (gone) break;
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
        if (from_server.find(service::chat_lines::bye) != std::string::npos)
          write_all(STDOUT_FILENO, "\r\x1b[K*** bye\r\n");
      }
    }
    write_all(STDOUT_FILENO, "\r\x1b[K");
  }
  return status;
}

}  // namespace sockit::cli
