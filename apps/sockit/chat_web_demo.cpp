// The demo's browser/server step: the chat room with --web, its page fetched over HTTP and a
// WebSocket member (what the page's script does) talking with an nc-style member. Blocking
// sockets with a poll deadline, like the other steps, so a broken room fails the step
// instead of hanging the tour.
#include <fmt/format.h>
#include <poll.h>

#include <array>
#include <cerrno>
#include <random>
#include <stdexcept>
#include <string>

#include "commands.hpp"
#include "sockit/codec/websocket.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/service/chat.hpp"

namespace sockit::cli {
namespace {

namespace ws = codec::websocket;

void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

// Appends what the socket has within 5 s; false when it closed.
bool recv_more(net::socket& s, std::string& into) {
  for (;;) {
    pollfd pfd{s.native_handle(), POLLIN, 0};
    int ready = ::poll(&pfd, 1, 5000);
    if (ready < 0 && errno == EINTR) continue;
    expect(ready > 0, "no answer within 5 s");
    char buf[8192];
    std::error_code ec;
    std::size_t n = s.recv(std::as_writable_bytes(std::span(buf, sizeof buf)), ec);
    if (ec || n == 0) return false;
    into.append(buf, n);
    return true;
  }
}

net::socket connect(const net::endpoint& at) {
  std::error_code ec;
  std::string why;
  net::socket c = net::socket::connect(at, ec, &why);
  expect(!ec, why);
  return c;
}

void send(net::socket& s, std::string_view bytes) {
  std::error_code ec;
  s.send_all(net::as_bytes(bytes), ec);
  expect(!ec, "send: " + ec.message());
}

// Lines from an nc-style member until one contains `needle`.
std::string line_with(net::socket& s, std::string& pending, std::string_view needle) {
  for (int guard = 0; guard < 100; ++guard) {
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.find(needle) != std::string::npos) return line;
    }
    expect(recv_more(s, pending), "the room closed the connection early");
  }
  throw std::runtime_error(fmt::format("no line with '{}'", needle));
}

std::string step_chat_web() {
  service::chat_options opt;
  opt.endpoint = net::endpoint::parse("127.0.0.1:0");
  opt.web = net::endpoint::parse("127.0.0.1:0");
  service::chat_server server(opt);
  server.start();
  const std::string url = server.web_url();  // "http://127.0.0.1:PORT/"
  expect(url.starts_with("http://") && url.ends_with("/"), "no web listener: " + url);
  const std::string host = url.substr(7, url.size() - 8);
  const net::endpoint web = net::endpoint::parse(host);

  // The page, as a browser asks for it.
  net::socket page = connect(web);
  send(page, fmt::format("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", host));
  std::string answer;
  while (recv_more(page, answer)) {
  }
  expect(answer.starts_with("HTTP/1.1 200 "), "the page was not served: " + answer.substr(0, 40));
  expect(answer.find("<title>sockit chat</title>") != std::string::npos, "not the chat page");
  const std::size_t page_bytes = answer.size() - answer.find("\r\n\r\n") - 4;

  // An nc member, then a WebSocket one, as the page's script connects.
  net::socket nc = connect(server.local_endpoint());
  std::string nc_in;
  line_with(nc, nc_in, "welcome");
  net::socket browser = connect(web);
  std::random_device rd;
  std::array<std::uint8_t, 16> nonce{};
  for (auto& b : nonce) b = static_cast<std::uint8_t>(rd());
  const std::string key = ws::make_key(nonce);
  send(browser, ws::upgrade_request(host, "/ws", key, "http://" + host));
  std::string in;
  std::size_t end = 0;
  while ((end = ws::head_end(in)) == 0) expect(recv_more(browser, in), "closed in the upgrade");
  std::string why;
  expect(ws::check_upgrade_response(std::string_view(in).substr(0, end), key, why), why);
  ws::frame_reader reader(64 * 1024, ws::role::client);
  std::string rest = in.substr(end);
  auto next_text = [&]() -> std::string {
    for (int guard = 0; guard < 100; ++guard) {
      const std::size_t took = reader.feed(rest);
      rest.erase(0, took);
      ws::event e = reader.next();
      if (e.what == ws::event::kind::message) return e.payload;
      expect(e.what == ws::event::kind::none || e.what == ws::event::kind::ping,
             "the WebSocket ended early");
      if (e.what == ws::event::kind::none && rest.empty())
        expect(recv_more(browser, rest), "the WebSocket closed early");
    }
    throw std::runtime_error("no message on the WebSocket");
  };
  const std::string welcome = next_text();
  expect(welcome.find("welcome to #lobby") != std::string::npos, "no welcome: " + welcome);
  std::string frames;
  std::array<std::uint8_t, 4> mask{};
  for (std::string_view line : {"/nick browser", "hello from a web page"}) {
    for (auto& b : mask) b = static_cast<std::uint8_t>(rd());
    ws::append_masked_frame(frames, ws::opcode::text, line, mask);
  }
  send(browser, frames);
  const std::string heard = line_with(nc, nc_in, "hello from a web page");
  expect(heard.find("<browser> hello from a web page") != std::string::npos,
         "the browser's line reached nc as: " + heard);
  send(nc, "hi browser\n");
  std::string reply;
  for (int guard = 0; guard < 10 && reply.find("hi browser") == std::string::npos; ++guard)
    reply = next_text();
  expect(reply.find("hi browser") != std::string::npos, "nc's line did not reach the browser");
  server.stop();
  return fmt::format(
      "{}: the page ({} bytes, built into the binary) for a browser, and its WebSocket /ws: a "
      "web member said 'hello from a web page', an nc member heard it and answered; the same "
      "room for both architectures (open the URL of `chat serve --web` in a browser)",
      url, page_bytes);
}

}  // namespace

demo_step demo_chat_web() {
  return {"chat room in a browser (B/S)",
          "the browser/server architecture: `chat serve --web` serves a page and a WebSocket, "
          "and browsers join the same room as nc and telnet users",
          step_chat_web};
}

}  // namespace sockit::cli
