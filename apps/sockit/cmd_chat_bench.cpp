// sockit bench chat: load for any line-based chat room (sockit chat serve, ncat --chat).
// Registered after `bench` (order 95) so cmd_bench.cpp does not need to know about it.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "commands.hpp"
#include "output.hpp"
#include "sockit/service/chat_bench.hpp"

namespace sockit::cli {
namespace {

struct bench_chat_cli_options {
  std::string endpoint;
  unsigned clients = 100;
  unsigned senders = 10;
  double rate = 10;
  double duration = 5;
  double drain = 3;
  std::size_t size = 64;
  unsigned threads = 1;
  bool json = false;
  bool tls = false;
  bool web = false;
};

// "ws://HOST:PORT/path" or "wss://...": WebSocket members of that endpoint and path (wss:
// over TLS); anything else is an endpoint as `sockit bench chat` always took it.
void parse_target(std::string_view text, service::chat_bench_options& opt) {
  bool secure = false;
  if (text.starts_with("ws://")) {
    text.remove_prefix(5);
  } else if (text.starts_with("wss://")) {
    text.remove_prefix(6);
    secure = true;
  } else {
    opt.endpoint = net::endpoint::parse(text);
    return;
  }
  const auto slash = text.find('/');
  if (slash != std::string_view::npos) {
    opt.web_path = std::string(text.substr(slash));
    text = text.substr(0, slash);
  }
  opt.endpoint = net::endpoint::parse(text);
  if (opt.endpoint.is_unix()) throw CLI::ValidationError("a ws:// URL names a HOST:PORT");
  opt.web = true;
  opt.tls = opt.tls || secure;
}

int run_bench_chat(const bench_chat_cli_options& o) {
  service::chat_bench_options opt;
  opt.tls = o.tls;
  opt.web = o.web;
  parse_target(o.endpoint, opt);
  opt.clients = o.clients;
  opt.senders = o.senders;
  opt.rate = o.rate;
  opt.duration = seconds_to_ms(o.duration);
  opt.drain = seconds_to_ms(o.drain);
  opt.size = o.size;
  opt.threads = o.threads;
  if (o.json) {
    // A line when the room is set up and one when the deliveries are in, so a driver can
    // measure the sending phase alone (without the joins and the goodbyes).
    opt.on_sending = [&opt] {
      print_json({{"event", "sending"}, {"endpoint", opt.endpoint.to_string()}});
    };
    opt.on_drained = [] { print_json({{"event", "drained"}}); };
  }
  auto r = service::run_chat_bench(opt);
  const auto& h = r.latency;
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  if (o.json) {
    print_json({{"event", "result"},
                {"endpoint", opt.endpoint.to_string()},
                {"members", opt.web ? "websocket" : "tcp"},
                {"tls", opt.tls},
                {"clients", opt.clients},
                {"connected", r.connected},
                {"ready", r.ready},
                {"senders", opt.senders},
                {"rate", opt.rate},
                {"seconds", r.seconds},
                {"setup_seconds", r.setup_seconds},
                {"sent", r.sent},
                {"expected", r.expected},
                {"delivered", r.delivered},
                {"lost", r.lost()},
                {"out_of_order", r.out_of_order},
                {"disconnected", r.disconnected},
                {"deliveries_per_second", r.deliveries_per_second()},
                {"latency_us",
                 {{"p50", us(h.percentile(50))},
                  {"p99", us(h.percentile(99))},
                  {"max", us(h.max())},
                  {"mean", h.mean() / 1000.0}}},
                {"error", r.error}});
  } else {
    // A WebSocket target as its URL (the endpoint's own text names TCP).
    std::string target = opt.endpoint.to_string();
    if (opt.web && target.starts_with("tcp://"))
      target = (opt.tls ? "wss://" : "ws://") + target.substr(6) + opt.web_path;
    else if (opt.tls)
      target += " (TLS)";
    print_line(
        fmt::format("bench chat {}: {} clients ({} in the room), {} senders x {}/s, {:.1f} s",
                    target, opt.clients, r.ready, opt.senders, opt.rate, r.seconds));
    print_line(fmt::format("  deliveries  {} of {} ({}/s)", r.delivered, r.expected,
                           human_count(r.deliveries_per_second())));
    print_line(fmt::format("  latency     p50 {}  p99 {}  max {}",
                           human_duration_ns(h.percentile(50)), human_duration_ns(h.percentile(99)),
                           human_duration_ns(h.max())));
    print_line(fmt::format("  lost {}  out of order {}  disconnected {}", r.lost(), r.out_of_order,
                           r.disconnected));
    print_line(
        fmt::format("  setup       {:.2f} s until every member was in the room", r.setup_seconds));
    // The server's words (an HTTP status line) pass the one gate for peer text.
    if (!r.error.empty()) print_line("  first failure: " + escape_for_terminal(r.error));
  }
  // Nothing delivered, or a room that reorders a sender's lines, is a failed run.
  return (r.delivered == 0 || r.out_of_order != 0) ? 1 : 0;
}

}  // namespace

void setup_bench_chat(CLI::App& app, int& exit_code) {
  auto* bench = app.get_subcommand("bench");
  auto o = std::make_shared<bench_chat_cli_options>();
  auto* cmd = bench->add_subcommand(
      "chat", "Measure a chat room: deliveries/s, delivery latency, losses (any line relay)");
  cmd->add_option("endpoint", o->endpoint,
                  "The room: HOST:PORT, unix:/path; ws://HOST:PORT/ws (or wss://) for "
                  "WebSocket members")
      ->required();
  cmd->add_option("-c,--clients", o->clients, "Members in the room")->capture_default_str();
  cmd->add_option("-k,--senders", o->senders, "Members that send")->capture_default_str();
  cmd->add_option("-r,--rate", o->rate, "Messages per second per sender")->capture_default_str();
  cmd->add_option("-d,--duration", o->duration, "Seconds of sending")
      ->capture_default_str()
      ->check(positive("a positive number of seconds"));
  cmd->add_option("--drain", o->drain, "Seconds to wait for late deliveries")
      ->capture_default_str()
      ->check(not_negative("0 or more seconds"));
  cmd->add_option("-s,--size", o->size, "Bytes per message line")->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Client event loops")->capture_default_str();
  cmd->add_flag("--tls", o->tls,
                "TLS 1.3 members (chat serve --tls); the room's identity is not checked: only "
                "test lines are sent");
  cmd->add_flag("--web", o->web,
                "WebSocket members: the endpoint is the room's web listener (chat serve --web "
                "HOST:PORT), upgraded at /ws; each line one text message");
  cmd->add_flag("--json", o->json,
                "JSON lines: {\"event\":\"sending\"} once the room is set up, "
                "{\"event\":\"drained\"} once the deliveries are in (before the members "
                "leave), then the result");
  cmd->footer(
      "Each message should reach every other member once, in order per sender; latency runs\n"
      "from when a message was due to be sent (a sender held back by the server still counts\n"
      "the wait) to its receipt by each member. Exit status 1 when nothing arrived or order\n"
      "broke.");
  cmd->callback([o, &exit_code] { exit_code = run_bench_chat(*o); });
}

}  // namespace sockit::cli
