// libFuzzer target for what a browser, or anyone posing as one, hands the chat room's web
// listener (codec/websocket.hpp): the opening handshake's request head and then frames.
// Properties: head_end points just past a blank line; a head that parses and asks for an
// upgrade has a valid key and version 13; a failed parse says why. The frame reader, fed the
// input in pieces whose sizes the input picks, never holds more than its bound, never
// returns a message over its limit, a text message that is not UTF-8 or a control payload
// over 125 bytes, and takes nothing after an error or a close. What the server writes back
// (encode_frame, close_payload) is re-read by a reader after masking, to the same payload.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "sockit/codec/websocket.hpp"

namespace ws = sockit::codec::websocket;

namespace {

// A server frame as a client would send it: the mask bit set and a mask inserted.
std::string masked(const std::string& frame, std::uint8_t seed) {
  const std::uint8_t len7 = static_cast<std::uint8_t>(frame[1]) & 0x7F;
  const std::size_t at = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
  const std::uint8_t mask[4] = {seed, static_cast<std::uint8_t>(seed * 7 + 1), 0x5a, 0xc3};
  std::string out = frame.substr(0, at);
  out[1] = static_cast<char>(out[1] | 0x80);
  for (auto b : mask) out += static_cast<char>(b);
  for (std::size_t i = at; i < frame.size(); ++i)
    out += static_cast<char>(frame[i] ^ static_cast<char>(mask[(i - at) % 4]));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sockit_fuzz::as_text(data, size);

  // The head.
  const std::size_t end = ws::head_end(text);
  FUZZ_CHECK(end <= text.size());
  if (end != 0) {
    FUZZ_CHECK(end >= 2 && text[end - 1] == '\n');
    ws::request r;
    std::string why;
    if (ws::parse_request(text.substr(0, end), r, why)) {
      FUZZ_CHECK(!r.target.empty() && r.target[0] == '/');
      if (r.is_upgrade()) {
        FUZZ_CHECK(r.key_valid && r.version == "13" && r.method == "GET");
        FUZZ_CHECK(ws::accept_key(r.key).size() == 28);
      }
    } else {
      FUZZ_CHECK(!why.empty());
    }
    // The same bytes as a server's answer to the load generator's upgrade.
    std::string answer_why;
    const std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==";
    if (ws::check_upgrade_response(text.substr(0, end), key, answer_why)) {
      FUZZ_CHECK(text.find(" 101") != std::string_view::npos);
      FUZZ_CHECK(text.find(ws::accept_key(key)) != std::string_view::npos);
    } else {
      FUZZ_CHECK(!answer_why.empty());
    }
  }

  // The client's reader (a server's frames, unmasked) over the whole input: bounded, and
  // a text message it returns is UTF-8.
  {
    constexpr std::size_t client_limit = 300;
    ws::frame_reader client(client_limit, ws::role::client);
    std::size_t at_c = 0;
    for (int guard = 0; guard < 4096 && at_c < size; ++guard) {
      const std::size_t took = client.feed(std::span(data + at_c, size - at_c));
      at_c += took;
      FUZZ_CHECK(client.buffered() <= client_limit + ws::max_control + 14);
      const ws::event e = client.next();
      if (e.what == ws::event::kind::message && e.op == ws::opcode::text)
        FUZZ_CHECK(ws::valid_utf8(e.payload));
      if (e.what == ws::event::kind::error || e.what == ws::event::kind::close) break;
      if (took == 0 && e.what == ws::event::kind::none) break;
    }
  }

  // Frames, fed in pieces: the first byte picks the piece size (1..16, or all at once).
  constexpr std::size_t limit = 300;
  ws::frame_reader reader(limit);
  const std::size_t piece = size == 0 ? 1 : (data[0] % 17 == 0 ? size : data[0] % 17);
  std::size_t at = size == 0 ? 0 : 1;
  bool done = false;
  int stalls = 0;
  while (at < size && stalls < 2) {
    const std::size_t n = std::min(piece, size - at);
    const std::size_t took = reader.feed(std::span(data + at, n));
    FUZZ_CHECK(took <= n);
    if (done) FUZZ_CHECK(took == 0);
    at += took;
    FUZZ_CHECK(reader.buffered() <= limit + ws::max_control + 14);
    const ws::event e = reader.next();
    switch (e.what) {
      case ws::event::kind::none:
        stalls = took == 0 ? stalls + 1 : 0;
        break;
      case ws::event::kind::message:
        FUZZ_CHECK(e.payload.size() <= limit);
        FUZZ_CHECK(e.op == ws::opcode::text || e.op == ws::opcode::binary);
        if (e.op == ws::opcode::text) FUZZ_CHECK(ws::valid_utf8(e.payload));
        break;
      case ws::event::kind::ping:
      case ws::event::kind::pong:
        FUZZ_CHECK(e.payload.size() <= ws::max_control);
        break;
      case ws::event::kind::close:
        FUZZ_CHECK(e.payload.size() <= ws::max_control - 2);
        FUZZ_CHECK(ws::valid_utf8(e.payload));
        FUZZ_CHECK(reader.finished());
        done = true;
        break;
      case ws::event::kind::error:
        FUZZ_CHECK(*e.why != '\0');
        FUZZ_CHECK(reader.finished());
        done = true;
        break;
    }
    if (done) {
      FUZZ_CHECK(reader.next().what == ws::event::kind::none);
      FUZZ_CHECK(reader.buffered() == 0);
      FUZZ_CHECK(reader.feed(std::span(data, size)) == 0);
      break;
    }
  }

  // What the server writes: the input as a binary message and (cut) as a close reason.
  const std::string_view body = text.substr(0, std::min<std::size_t>(text.size(), limit));
  {
    ws::frame_reader back(limit);
    const std::string frame =
        masked(ws::encode_frame(ws::opcode::binary, body), size ? data[0] : 0);
    FUZZ_CHECK(back.feed(frame) == frame.size());
    const ws::event e = back.next();
    FUZZ_CHECK(e.what == ws::event::kind::message && e.payload == body);
  }
  {
    const std::string p = ws::close_payload(ws::close_code::going_away, body);
    FUZZ_CHECK(p.size() >= 2 && p.size() <= ws::max_control);
    if (ws::valid_utf8(body)) {
      ws::frame_reader back(limit);
      const std::string frame = masked(ws::encode_frame(ws::opcode::close, p), 3);
      FUZZ_CHECK(back.feed(frame) == frame.size());
      const ws::event e = back.next();
      FUZZ_CHECK(e.what == ws::event::kind::close && e.code == ws::close_code::going_away);
      FUZZ_CHECK(body.substr(0, e.payload.size()) == e.payload);
    }
  }
  return 0;
}
