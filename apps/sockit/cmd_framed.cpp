// `sockit connect --framed`: a console for the framed protocol (docs/PROTOCOL.md). Each stdin
// line is a JSON header sent as one frame (after the magic); each received frame is printed
// as one JSON line. A "_body" string in a typed header is sent as the body; received bodies
// are summarised by length, shown as base64, or saved to files on request.
#include "cmd_framed.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "output.hpp"
#include "sockit/codec/frame.hpp"
#include "sockit/net/socket.hpp"

namespace sockit::cli {
namespace {

std::string base64(std::string_view in) {
  static constexpr char table[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    auto n = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
             static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
             static_cast<unsigned char>(in[i + 2]);
    for (int k = 3; k >= 0; --k) out += table[(n >> (6 * k)) & 63];
  }
  if (i < in.size()) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (i + 1 < in.size())
      n |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += i + 1 < in.size() ? table[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

int run_framed(const std::string& endpoint, const framed_options& o) {
  auto e = net::endpoint::parse(endpoint);
  std::error_code ec;
  std::string why;
  net::socket sock = net::socket::connect(e, ec, &why);
  if (ec) throw std::runtime_error(why.empty() ? ec.message() : why);
  std::string magic(codec::magic.begin(), codec::magic.end());
  sock.send_all(net::as_bytes(magic), ec);
  if (ec) throw std::runtime_error("send: " + ec.message());

  // stdin -> frames on a helper thread; this thread prints what arrives.
  int fd = sock.native_handle();
  std::thread writer([fd] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.empty()) continue;
      auto h = nlohmann::json::parse(line, nullptr, false);
      if (!h.is_object()) {
        print_line("sockit: not a JSON object, not sent: " + escape_for_terminal(line), stderr);
        continue;
      }
      std::string frame;
      if (auto it = h.find("_body"); it != h.end() && it->is_string()) {
        std::string body = it->get<std::string>();
        h.erase("_body");
        codec::append_frame(frame, h, body);
        if (body.empty()) {
          frame.clear();
          h["size"] = 0;
          codec::append_frame(frame, h);
        }
      } else {
        codec::append_frame(frame, h);
      }
      std::error_code wec;
      net::send_all(fd, frame, wec);
      if (wec) break;
    }
    ::shutdown(fd, SHUT_WR);
  });

  codec::limits lim;
  lim.max_body = o.max_body;
  codec::parser p(lim);
  std::vector<char> buf(256 * 1024);
  std::string body;
  bool keep = o.base64 || !o.save_dir.empty();
  nlohmann::json current;
  std::uint64_t count = 0;
  int status = 0;
  for (bool open = true; open;) {
    auto n = sock.recv(std::as_writable_bytes(std::span(buf)), ec);
    if (ec || n == 0) break;
    std::string_view in(buf.data(), n);
    for (;;) {
      auto ev = p.next(in);
      if (ev == codec::parser::event::need_more) break;
      if (ev == codec::parser::event::error) {
        print_line("sockit: bad frame from the peer: " + p.error().message(), stderr);
        status = 1;
        open = false;
        break;
      }
      if (ev == codec::parser::event::header) {
        current = p.header().fields;
        body.clear();
      } else if (ev == codec::parser::event::body) {
        if (keep) body.append(p.body_piece());
      } else if (ev == codec::parser::event::frame_end) {
        ++count;
        nlohmann::json out{{"header", current}};
        if (current.contains("size")) {
          out["body_size"] = current["size"];
          if (o.base64) out["body_base64"] = base64(body);
          if (!o.save_dir.empty()) {
            std::string path = fmt::format("{}/frame-{}.bin", o.save_dir, count);
            std::ofstream(path, std::ios::binary)
                .write(body.data(), static_cast<std::streamsize>(body.size()));
            out["body_file"] = path;
          }
        }
        print_json(out);
      }
    }
  }
  // The peer closed: nothing more will be read, so stop waiting on stdin too.
  ::shutdown(fd, SHUT_RDWR);
  writer.detach();
  std::fflush(stdout);
  ::_exit(status);  // the writer may be blocked in getline; exit without joining it
}

}  // namespace sockit::cli
