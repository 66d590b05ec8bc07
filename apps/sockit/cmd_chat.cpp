// sockit chat serve|join: the seeds' two-way chat grown into a room for many clients.
#include <fmt/format.h>

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "chat_client.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "serving.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/service/access_token.hpp"
#include "sockit/service/chat.hpp"
#include "sockit/service/chat_event_queue.hpp"
#include "sockit/service/chat_lines.hpp"
#include "tls_options.hpp"

namespace sockit::cli {
namespace {

struct chat_serve_cli_options {
  std::string endpoint = "127.0.0.1:0";
  std::size_t history = 0;
  std::size_t max_clients = 4096;
  std::size_t max_conns_per_ip = 32;
  std::size_t max_line = 2048;
  std::size_t max_queue = 256 * 1024;
  double drop_after = 5;
  double rate = 100;
  double burst = 200;
  double idle_timeout = 3600;
  std::size_t log_buffer = 4096;
  bool json = false;
  bool quiet = false;
  bool tls = false;
  server_tls cert;
  std::string token_file;
  std::string web;
  std::vector<std::string> web_origins;
  double web_ping_interval = 30;
  double handshake_timeout = 10;
};

const char* event_name(service::chat_event::type t) {
  using type = service::chat_event::type;
  switch (t) {
    case type::joined:
      return "joined";
    case type::left:
      return "left";
    case type::dropped:
      return "dropped";
    case type::message:
      return "message";
    case type::action:
      return "action";
    case type::private_message:
      return "private_message";
    case type::nick_changed:
      return "nick_changed";
    case type::room_changed:
      return "room_changed";
    case type::line_too_long:
      return "line_too_long";
    case type::rejected:
      return "rejected";
    case type::closing:
      return "closing";
  }
  return "unknown";
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

std::string stamp(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::localtime_r(&secs, &tm);
  return fmt::format("[{:02}:{:02}:{:02}]", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string json_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// One event as one log line (with its '\n').
std::string format_chat_event(const service::chat_event& e, bool json) {
  using type = service::chat_event::type;
  if (json) {
    nlohmann::json j{{"event", event_name(e.what)}, {"time", iso_time(e.time)}};
    if (!e.nick.empty()) j["nick"] = e.nick;
    if (!e.peer.empty()) j["peer"] = e.peer;
    if (!e.room.empty()) j["room"] = e.room;
    if (e.what == type::message || e.what == type::action) j["text"] = e.text;
    if (!e.detail.empty()) {
      const char* key = e.what == type::nick_changed      ? "old_nick"
                        : e.what == type::room_changed    ? "old_room"
                        : e.what == type::private_message ? "to"
                        : e.what == type::closing         ? "members"
                                                          : "reason";
      j[key] = e.detail;
    }
    return json_line(j);
  }
  std::string nick = escape_for_terminal(e.nick);
  std::string line;
  switch (e.what) {
    case type::joined:
      line = fmt::format("{} joined {} from {}", nick, e.room, escape_for_terminal(e.peer));
      break;
    case type::left:
      line = fmt::format("{} left {} ({})", nick, e.room, e.detail);
      break;
    case type::dropped:
      line = fmt::format("{} dropped from {}: {}", nick, e.room, e.detail);
      break;
    case type::message:
      line = fmt::format("{} <{}> {}", e.room, nick, escape_for_terminal(e.text));
      break;
    case type::action:
      line = fmt::format("{} * {} {}", e.room, nick, escape_for_terminal(e.text));
      break;
    case type::private_message:
      line = fmt::format("{} -> {} (private)", nick, escape_for_terminal(e.detail));
      break;
    case type::nick_changed:
      line = fmt::format("{} is now {}", escape_for_terminal(e.detail), nick);
      break;
    case type::room_changed:
      line = fmt::format("{} moved from {} to {}", nick, e.detail, e.room);
      break;
    case type::line_too_long:
      line = fmt::format("{}: line too long, refused", nick);
      break;
    case type::rejected:
      line = fmt::format("rejected {}: {}", escape_for_terminal(e.peer), e.detail);
      break;
    case type::closing:
      line = fmt::format("closing: telling {} members", e.detail);
      break;
  }
  return fmt::format("{} {}\n", stamp(e.time), line);
}

std::string format_log_gap(std::uint64_t dropped, bool json) {
  auto now = std::chrono::system_clock::now();
  if (json)
    return json_line({{"event", "log_dropped"}, {"time", iso_time(now)}, {"events", dropped}});
  return fmt::format("{} {} events not logged: the log was not being read fast enough\n",
                     stamp(now), dropped);
}

// The log's only writer while the room runs. Straight to the descriptor, so a write stuck
// on a full pipe holds no stdio lock that the main thread's summary would need.
void write_stdout(std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(STDOUT_FILENO, s.data(), s.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // a closed pipe: the log is gone, the room is not
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

int run_chat_serve(const chat_serve_cli_options& o) {
  service::chat_options opt;
  opt.endpoint = net::endpoint::parse(o.endpoint);
  opt.history = o.history;
  opt.max_clients = o.max_clients;
  opt.max_conns_per_ip = o.max_conns_per_ip;
  opt.max_line = o.max_line;
  opt.max_queue = o.max_queue;
  opt.drop_after = seconds_to_ms(o.drop_after);
  opt.rate = o.rate;
  opt.burst = o.burst;
  opt.idle_timeout = seconds_to_ms(o.idle_timeout);
  if (!o.web.empty()) opt.web = net::endpoint::parse(o.web);
  opt.web_origins = o.web_origins;
  opt.web_ping_interval = seconds_to_ms(o.web_ping_interval);
  opt.opening_timeout = seconds_to_ms(o.handshake_timeout);
  check_server_cert_options(o.cert, o.tls);
  if (o.tls) opt.tls = server_identity(o.cert);
  if (!o.token_file.empty()) {
    opt.token = service::read_token_file(o.token_file);
    if (!o.tls)
      print_line(
          "sockit chat serve: warning: a private room without --tls: its token and lines "
          "travel unencrypted",
          stderr);
  }

  block_stop_signals();  // before any thread exists (room, log printer): they inherit the mask
  // The room's thread only hands events to a bounded queue; a printer thread writes them.
  // A log nobody reads (a full pipe) then costs log lines, counted, never the room's time.
  // Declared before the server, so it outlives every event the server emits.
  std::unique_ptr<service::chat_event_queue> log;
  if (!o.quiet) {
    log = std::make_unique<service::chat_event_queue>(
        o.log_buffer,
        [json = o.json](const service::chat_event& e) { write_stdout(format_chat_event(e, json)); },
        [json = o.json](std::uint64_t n) { write_stdout(format_log_gap(n, json)); });
  }
  // The options that only make sense together (--max-queue against --max-line) are checked
  // by the room: a usage error, exit 2 like the parser's own.
  std::optional<service::chat_server> room;
  try {
    room.emplace(opt);
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError(e.what());
  }
  service::chat_server& server = *room;
  if (log) server.on_event([q = log.get()](const service::chat_event& e) { q->push(e); });
  int sig = serve_until_stop_signal(server, o.json);
  std::uint64_t not_logged = 0;
  bool log_stuck = false;  // stdout is a full pipe nobody reads
  if (log) {
    log_stuck = !log->close();
    if (log_stuck)
      print_line("the event log is not being read; its last events are not written", stderr);
    not_logged = log->dropped();
  }
  auto s = server.stats();
  print_stopped(sig,
                {{"accepted", s.accepted, "accepted"},
                 {"rejected", s.rejected, "rejected"},
                 {"messages", s.messages, "messages"},
                 {"deliveries", s.deliveries, "deliveries"},
                 {"dropped", s.dropped, "dropped"},
                 {"idle_closed", s.idle_closed, "idle-closed"},
                 {"too_long", s.too_long, "lines too long"},
                 {"not_logged", not_logged, "events not logged"}},
                o.json && !log_stuck);  // a stuck stdout would block the exit: stderr then
  return 0;
}

}  // namespace

void setup_chat(CLI::App& app, int& exit_code) {
  auto* chat =
      app.add_subcommand("chat", "A chat room for many clients: nicknames, commands, rooms");
  chat->require_subcommand(1);

  auto s = std::make_shared<chat_serve_cli_options>();
  auto* serve = chat->add_subcommand("serve", "Run a chat room (nc and telnet are full clients)");
  serve->add_option("endpoint", s->endpoint, "Where to listen: HOST:PORT, [::1]:PORT, unix:/path")
      ->capture_default_str();
  serve->add_option("--history", s->history, "Replay the last N messages to newcomers")
      ->capture_default_str();
  serve->add_option("--max-clients", s->max_clients, "Turn away clients beyond N (0 = no limit)")
      ->capture_default_str();
  serve
      ->add_option("--max-conns-per-ip", s->max_conns_per_ip,
                   "Turn away clients of an address that already has N (0 = no limit)")
      ->capture_default_str()
      ->check(not_negative("0 (no limit) or more"));
  serve->add_option("--max-line", s->max_line, "Refuse lines longer than B bytes")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  serve
      ->add_option("--max-queue", s->max_queue,
                   "A member's queue is full at B bytes: dropped if it then reads nothing for "
                   "--drop-after, or at 2*B even if it reads")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 40));
  serve
      ->add_option("--drop-after", s->drop_after,
                   "Seconds a member with a full queue may read nothing before it is dropped "
                   "(sooner if the room says another --max-queue; 0 = at once)")
      ->capture_default_str()
      ->check(not_negative("0 or more seconds"));
  serve
      ->add_option("--rate", s->rate,
                   "Lines per second taken from each member on average; the rest waits in its "
                   "socket (0 = no limit)")
      ->capture_default_str()
      ->check(not_negative("0 (no limit) or more lines per second"));
  // finite_number() refuses NaN and inf before the range is checked.
  serve->add_option("--burst", s->burst, "Lines a member may send at once before --rate applies")
      ->capture_default_str()
      ->check(positive("1 or more lines") & CLI::Range(1.0, 1e9));
  serve
      ->add_option("--idle-timeout", s->idle_timeout,
                   "Disconnect members silent for this many seconds (0 = never)")
      ->capture_default_str()
      ->check(not_negative("0 or more seconds"));
  serve
      ->add_option("--log-buffer", s->log_buffer,
                   "Events waiting for a slow log before they are dropped (and counted)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  serve->add_flag("--tls", s->tls,
                  "TLS 1.3 with the stored identity (or --cert/--key), shown in the listening "
                  "line; members join with `chat join --tls`, ncat --ssl, openssl s_client");
  add_server_cert_options(serve, s->cert);
  serve->add_option("--web", s->web,
                    "Also serve the room to browsers here (HOST:PORT, :PORT): the page at /, "
                    "its WebSocket at /ws; HTTPS and WSS with --tls");
  serve
      ->add_option("--web-origin", s->web_origins,
                   "Let pages from this origin (https://chat.example) open the WebSocket "
                   "besides the page's own; * allows any (repeatable)")
      ->needs("--web");
  serve
      ->add_option("--web-ping-interval", s->web_ping_interval,
                   "Ping a browser silent this many seconds; close it if it stays silent as long "
                   "again (0 = never)")
      ->capture_default_str()
      ->check(not_negative("0 or more seconds"));
  serve
      ->add_option("--handshake-timeout", s->handshake_timeout,
                   "Seconds a newcomer has for its TLS handshake and token, a browser for its "
                   "HTTP request; then it is closed")
      ->capture_default_str()
      ->check(positive("a positive number of seconds"));
  serve->add_option("--token-file", s->token_file,
                    "A private room: newcomers must send the token in this file as their first "
                    "line (chat join does, from --token-file or SOCKIT_TOKEN)");
  serve->add_flag("--json", s->json, "Events as JSON lines on stdout");
  serve->add_flag("-q,--quiet", s->quiet, "No event log, only the listening line and summary");
  serve->footer(
      "Prints `listening on ENDPOINT` once bound. Clients send lines; /help lists commands.\n"
      "SIGINT/SIGTERM: tell every member the room is closing, close, print a summary, exit 0.");
  serve->callback([s, &exit_code] { exit_code = run_chat_serve(*s); });

  auto j = std::make_shared<chat_join_options>();
  auto* join = chat->add_subcommand("join", "Join a chat room from this terminal (or a script)");
  join->add_option("endpoint", j->endpoint, "The room: HOST:PORT, [::1]:PORT, unix:/path")
      ->required();
  join->add_option("--nick", j->nick, "Nickname to take on arrival");
  join->add_flag("--json", j->json, "One JSON object per incoming line");
  join->add_flag("--tls", j->security.tls, "TLS 1.3, the room's identity pinned or verified");
  add_trust_options(join, j->security);
  join->add_option("--token-file", j->security.token_file,
                   "A private room's token (else $SOCKIT_TOKEN, else asked on the terminal)");
  join->footer(
      "In a terminal: a line editor that incoming messages never garble, colours per nick\n"
      "(unless NO_COLOR). Otherwise stdin lines are sent and room lines printed as they are;\n"
      "at the end of stdin the client waits for the server to close.\n" +
      std::string(chat_join_exit_help));
  join->callback([j, &exit_code] { exit_code = run_chat_join(*j); });
}

namespace {

// One line from the room, waiting at most 5 s for each piece, so a broken room fails the
// step instead of hanging the demo.
std::string recv_line(net::socket& s, std::string& pending) {
  for (int guard = 0; guard < 1000; ++guard) {
    auto nl = pending.find('\n');
    if (nl != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      return line;
    }
    pollfd pfd{s.native_handle(), POLLIN, 0};
    int ready = ::poll(&pfd, 1, 5000);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) throw std::runtime_error("no line from the room within 5 s");
    char buf[4096];
    std::error_code ec;
    std::size_t n = s.recv(std::as_writable_bytes(std::span(buf, sizeof buf)), ec);
    if (ec || n == 0) throw std::runtime_error("the room closed the connection early");
    pending.append(buf, n);
  }
  throw std::runtime_error("no line from the room");
}

void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

std::string step_chat() {
  service::chat_options opt;
  opt.endpoint = net::endpoint::parse("127.0.0.1:0");
  opt.history = 5;
  service::chat_server server(opt);
  server.start();
  std::error_code ec;
  std::string why;
  auto connect = [&] {
    net::socket c = net::socket::connect(server.local_endpoint(), ec, &why);
    expect(!ec, why);
    return c;
  };
  // Each line read as the client reads it (chat_lines.hpp), time prefix aside.
  namespace cl = service::chat_lines;
  using kind = cl::parsed_line::kind;
  std::string pa, pb;
  auto welcomed = [](const std::string& line) -> std::string {
    auto p = cl::parse(line);
    auto nick = p.what == kind::notice ? cl::welcomed_nick(p.text) : std::nullopt;
    expect(nick.has_value(), "no welcome: " + line);
    return std::string(*nick);
  };
  net::socket a = connect();
  std::string guest_a = welcomed(recv_line(a, pa));
  a.send_all(net::as_bytes("/nick alice\nhello from the seeds' chat\n"), ec);
  std::string renamed_line = recv_line(a, pa);
  auto renamed = cl::parse(renamed_line);  // views into renamed_line
  expect(renamed.what == kind::notice && cl::renamed_to(renamed.text, guest_a) == "alice",
         "nick change not confirmed");
  net::socket b = connect();
  std::string guest_b = welcomed(recv_line(b, pb));
  std::string replay = recv_line(b, pb);
  auto said = cl::parse(replay);
  expect(said.what == kind::message && said.nick == "alice" && said.text.starts_with("hello"),
         "history not replayed: " + replay);
  std::string joined_line = recv_line(a, pa);
  auto joined = cl::parse(joined_line);
  expect(joined.what == kind::notice &&
             "*** " + std::string(joined.text) == cl::joined(guest_b, opt.lobby),
         "no join notice");
  b.send_all(net::as_bytes("/msg alice hi, only you\n"), ec);
  std::string priv = recv_line(a, pa);
  auto heard = cl::parse(priv);
  expect(
      heard.what == kind::private_message && heard.nick == guest_b && heard.text == "hi, only you",
      "private message lost: " + priv);
  server.stop();
  std::string sent_line = recv_line(b, pb);
  auto sent = cl::parse(sent_line);
  expect(sent.what == kind::private_sent && sent.nick == "alice", "no private confirmation");
  std::string bye = recv_line(b, pb);
  expect(bye.find("closing") != std::string::npos, "no closing notice: " + bye);
  std::string_view replayed = replay;
  cl::split_time(replayed);
  return fmt::format(
      "{}: alice and a guest in one room; history replayed ('{}'), a private /msg, and the "
      "closing notice reached everyone",
      server.local_endpoint().to_string(), replayed);
}

}  // namespace

demo_step demo_chat() {
  return {"chat room, many clients",
          "the two-way chat, now one server talking to many clients at once: nicknames, "
          "history, private messages, every client on its own connection",
          step_chat};
}

}  // namespace sockit::cli
