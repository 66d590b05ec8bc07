// codec::websocket: every rule of the frame reader, each input fed whole, a byte at a time
// and at every 2-way split (the same events must come out); UTF-8 edge cases across
// fragments; the 16- and 64-bit length forms; the request head's strict parse; the RFC's
// accept-key example; the shape of the answers.
#include "sockit/codec/websocket.hpp"

#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace ws = sockit::codec::websocket;
using ws::close_code;
using ws::opcode;
using kind = ws::event::kind;

namespace {

// --- Building client frames -------------------------------------------------------------

struct frame_spec {
  std::uint8_t op = 0x1;
  bool fin = true;
  std::uint8_t rsv = 0;  // bits 0x70
  bool masked = true;
  int length_form = 0;  // 0: minimal, 16: always 126 + 2 bytes, 64: always 127 + 8 bytes
  std::optional<std::uint64_t> claimed{};  // a length to announce instead of the payload's
  std::array<std::uint8_t, 4> mask{0x37, 0xfa, 0x21, 0x3d};
};

std::string frame(const frame_spec& f, std::string_view payload) {
  std::string out;
  out += static_cast<char>((f.fin ? 0x80 : 0) | f.rsv | f.op);
  const std::uint64_t n = f.claimed.value_or(payload.size());
  const char m = f.masked ? '\x80' : 0;
  if (f.length_form == 0 && n < 126) {
    out += static_cast<char>(m | static_cast<char>(n));
  } else if (f.length_form != 64 && n <= 0xFFFF) {
    out += static_cast<char>(m | 126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xFF);
  } else {
    out += static_cast<char>(m | 127);
    for (int s = 56; s >= 0; s -= 8) out += static_cast<char>((n >> s) & 0xFF);
  }
  if (f.masked) {
    for (auto b : f.mask) out += static_cast<char>(b);
    for (std::size_t i = 0; i < payload.size(); ++i)
      out += static_cast<char>(payload[i] ^ f.mask[i % 4]);
  } else {
    out += payload;
  }
  return out;
}

std::string text(std::string_view p, bool fin = true) { return frame({0x1, fin}, p); }
std::string binary(std::string_view p, bool fin = true) { return frame({0x2, fin}, p); }
std::string cont(std::string_view p, bool fin = true) { return frame({0x0, fin}, p); }
std::string ping(std::string_view p) { return frame({0x9}, p); }
std::string pong(std::string_view p) { return frame({0xA}, p); }
std::string close_frame(std::string_view p) { return frame({0x8}, p); }
std::string close_with(unsigned code, std::string_view reason = {}) {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xFF);
  p += reason;
  return close_frame(p);
}

// --- Feeding --------------------------------------------------------------------------

struct ev {
  kind what;
  opcode op;
  std::string payload;
  close_code code;
  std::string why;
  bool operator==(const ev&) const = default;
};

std::ostream& operator<<(std::ostream& os, const ev& e) {
  return os << "{kind " << int(e.what) << " op " << int(e.op) << " payload " << e.payload.size()
            << "B code " << int(e.code) << " why '" << e.why << "'}";
}

// Feeds `in` in the chunks that `cuts` (ascending offsets) makes, as a session would: feed,
// take the event, feed the rest, until the chunk is used up or the reader is finished.
std::vector<ev> run_chunks(const std::string& in, const std::vector<std::size_t>& cuts,
                           std::size_t max_message) {
  ws::frame_reader r(max_message);
  std::vector<ev> out;
  std::size_t begin = 0;
  auto chunk_end = cuts.begin();
  while (begin < in.size() && !r.finished()) {
    const std::size_t end = chunk_end == cuts.end() ? in.size() : *chunk_end++;
    std::string_view chunk(in.data() + begin, end - begin);
    while (!chunk.empty() && !r.finished()) {
      const std::size_t n = r.feed(chunk);
      EXPECT_LE(n, chunk.size());
      chunk.remove_prefix(n);
      EXPECT_LE(r.buffered(), max_message + ws::max_control + 14);
      auto e = r.next();
      if (e.what == kind::none) {
        EXPECT_TRUE(chunk.empty()) << "feed took " << n << " and gave no event";
        if (!chunk.empty()) return out;
        continue;
      }
      out.push_back({e.what, e.op, e.payload, e.code, e.why});
      EXPECT_EQ(r.next().what, kind::none);
    }
    begin = end;
  }
  if (r.finished()) {
    EXPECT_EQ(r.feed(std::string_view("\x81\x80\0\0\0\0", 6)), 0u);
    EXPECT_EQ(r.next().what, kind::none);
  }
  return out;
}

// The events of `in` fed whole, checked to be the same fed a byte at a time and at every
// 2-way split (sampled for big inputs).
std::vector<ev> run(const std::string& in, std::size_t max_message = 1 << 20) {
  const auto whole = run_chunks(in, {}, max_message);
  std::vector<std::size_t> bytes;
  for (std::size_t i = 1; i < in.size(); ++i) bytes.push_back(i);
  EXPECT_EQ(run_chunks(in, bytes, max_message), whole) << "fed a byte at a time";
  const std::size_t step = in.size() > 3000 ? in.size() / 997 : 1;
  for (std::size_t cut = 1; cut < in.size(); cut += step) {
    EXPECT_EQ(run_chunks(in, {cut}, max_message), whole) << "split at " << cut;
    if (::testing::Test::HasFailure()) break;
  }
  return whole;
}

ev message(opcode op, std::string p) {
  return {kind::message, op, std::move(p), close_code::no_status, ""};
}

// The one error `in` should give, with `code`.
void expect_error(const std::string& in, close_code code, std::size_t max_message = 1 << 20) {
  const auto events = run(in, max_message);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().what, kind::error);
  EXPECT_EQ(events.back().code, code) << events.back().why;
  EXPECT_FALSE(events.back().why.empty());
}

}  // namespace

// --- Frames ------------------------------------------------------------------------------

TEST(WebSocketFrameReader, RfcMaskedHello) {
  // RFC 6455 §5.7: a single-frame masked text message "Hello".
  const std::string in("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  EXPECT_EQ(in, text("Hello"));
  EXPECT_EQ(run(in), std::vector<ev>{message(opcode::text, "Hello")});
}

TEST(WebSocketFrameReader, TextBinaryAndEmptyMessages) {
  std::string bin("\x00\xff\xc0\x80\xed\xa0\x80", 7);  // binary: not checked as UTF-8
  const auto events = run(text("") + binary(bin) + binary("") + text("x"));
  EXPECT_EQ(events, (std::vector<ev>{message(opcode::text, ""), message(opcode::binary, bin),
                                     message(opcode::binary, ""), message(opcode::text, "x")}));
}

TEST(WebSocketFrameReader, UnmasksEveryLengthAndMask) {
  std::mt19937 rng(7);
  for (std::size_t n = 0; n < 70; ++n) {
    std::string p;
    for (std::size_t i = 0; i < n; ++i) p += static_cast<char>(rng() & 0xFF);
    frame_spec f{0x2};
    for (auto& b : f.mask) b = static_cast<std::uint8_t>(rng());
    EXPECT_EQ(run(frame(f, p)), std::vector<ev>{message(opcode::binary, p)}) << n;
  }
}

TEST(WebSocketFrameReader, FragmentsWithInterleavedControlFrames) {
  const std::string in = text("Hel", false) + ping("are you there") + cont("lo, ", false) +
                         pong("") + cont("", false) + ping("") + cont("world") + binary("b");
  EXPECT_EQ(run(in), (std::vector<ev>{
                         {kind::ping, opcode::ping, "are you there", close_code::no_status, ""},
                         {kind::pong, opcode::pong, "", close_code::no_status, ""},
                         {kind::ping, opcode::ping, "", close_code::no_status, ""},
                         message(opcode::text, "Hello, world"),
                         message(opcode::binary, "b"),
                     }));
  // Binary fragments, and an empty first fragment.
  EXPECT_EQ(run(binary("", false) + cont("ab", false) + cont("cd")),
            std::vector<ev>{message(opcode::binary, "abcd")});
}

TEST(WebSocketFrameReader, LengthForms) {
  const std::string p200(200, 'a'), p70k(70000, 'z');
  EXPECT_EQ(run(text(p200)), std::vector<ev>{message(opcode::text, p200)});
  EXPECT_EQ(text(p200)[1], static_cast<char>(0x80 | 126));
  EXPECT_EQ(run(binary(p70k)), std::vector<ev>{message(opcode::binary, p70k)});
  EXPECT_EQ(binary(p70k)[1], static_cast<char>(0x80 | 127));
  // Non-minimal encodings are accepted (§5.2's MUST is the sender's).
  EXPECT_EQ(run(frame({0x1, true, 0, true, 16}, "hi")),
            std::vector<ev>{message(opcode::text, "hi")});
  EXPECT_EQ(run(frame({0x1, true, 0, true, 64}, "hi")),
            std::vector<ev>{message(opcode::text, "hi")});
  EXPECT_EQ(run(frame({0x9, true, 0, true, 16}, "p")),
            (std::vector<ev>{{kind::ping, opcode::ping, "p", close_code::no_status, ""}}));
  // A 64-bit length with its top bit set.
  expect_error(frame({0x2, true, 0, true, 64, 0x8000000000000000ull}, ""),
               close_code::protocol_error);
  expect_error(frame({0x2, true, 0, true, 64, ~0ull}, ""), close_code::protocol_error);
}

TEST(WebSocketFrameReader, MustBeMasked) {
  frame_spec f{0x1};
  f.masked = false;
  expect_error(frame(f, "hello"), close_code::protocol_error);
  f.op = 0x9;
  expect_error(frame(f, ""), close_code::protocol_error);
}

TEST(WebSocketFrameReader, ReservedBits) {
  for (std::uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
    expect_error(frame({0x1, true, rsv}, "x"), close_code::protocol_error);
    expect_error(frame({0x9, true, rsv}, ""), close_code::protocol_error);
  }
}

TEST(WebSocketFrameReader, UnknownOpcodes) {
  for (std::uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF})
    expect_error(frame({op}, "x"), close_code::protocol_error);
}

TEST(WebSocketFrameReader, ControlFrameRules) {
  const std::string p125(125, 'p'), p126(126, 'p');
  EXPECT_EQ(run(ping(p125)),
            (std::vector<ev>{{kind::ping, opcode::ping, p125, close_code::no_status, ""}}));
  expect_error(ping(p126), close_code::protocol_error);
  expect_error(pong(p126), close_code::protocol_error);
  expect_error(close_frame(std::string(2, '\x03') + std::string(124, 'r')),
               close_code::protocol_error);
  for (std::uint8_t op : {0x8, 0x9, 0xA}) {
    frame_spec f{op};
    f.fin = false;
    expect_error(frame(f, ""), close_code::protocol_error);
  }
}

TEST(WebSocketFrameReader, FragmentationOrder) {
  expect_error(cont("x"), close_code::protocol_error);
  expect_error(cont("x", false), close_code::protocol_error);
  expect_error(text("a") + cont("b"), close_code::protocol_error);  // the message was done
  auto events = run(text("a", false) + text("b"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].code, close_code::protocol_error);
  events = run(binary("a", false) + ping("") + binary("b"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].what, kind::ping);
  EXPECT_EQ(events[1].code, close_code::protocol_error);
}

TEST(WebSocketFrameReader, MessageTooBigFromTheHeader) {
  const std::size_t max = 100;
  EXPECT_EQ(run(text(std::string(100, 'a')), max),
            std::vector<ev>{message(opcode::text, std::string(100, 'a'))});
  // Only the header: the verdict needs no payload.
  expect_error(text(std::string(101, 'a')).substr(0, 8), close_code::message_too_big, max);
  expect_error(frame({0x2, true, 0, true, 64, 1ull << 62}, ""), close_code::message_too_big, max);
  // Fragments: joined, over the limit at the fragment that passes it.
  expect_error(
      text(std::string(60, 'a'), false) + ping("x") + cont(std::string(41, 'b')).substr(0, 8),
      close_code::message_too_big, max);
  EXPECT_EQ(run(text(std::string(60, 'a'), false) + cont(std::string(40, 'b')), max),
            std::vector<ev>{message(opcode::text, std::string(60, 'a') + std::string(40, 'b'))});
  // Control frames do not count against a message.
  EXPECT_EQ(run(ping(std::string(125, 'p')), 10).size(), 1u);
  // A limit of 0 takes only empty messages.
  EXPECT_EQ(run(text(""), 0), std::vector<ev>{message(opcode::text, "")});
  expect_error(text("a"), close_code::message_too_big, 0);
}

TEST(WebSocketFrameReader, NeverHoldsMoreThanTheLimit) {
  const std::size_t max = 4096;
  ws::frame_reader r(max);
  // A header claiming 4 GiB: refused before anything is held.
  const auto big = frame({0x2, true, 0, true, 64, 1ull << 32}, "");
  EXPECT_EQ(r.feed(big), big.size());
  EXPECT_EQ(r.next().code, close_code::message_too_big);
  EXPECT_TRUE(r.finished());
  EXPECT_EQ(r.buffered(), 0u);
  // A header claiming the limit, then a trickle: held bytes are the bytes that came.
  ws::frame_reader t(max);
  const auto full = binary(std::string(max, 'q'));
  EXPECT_EQ(t.feed(std::string_view(full).substr(0, 8)), 8u);  // 2 + 2 (length) + 4 (mask)
  EXPECT_EQ(t.buffered(), 0u);
  EXPECT_EQ(t.feed(std::string_view(full).substr(8, 100)), 100u);
  EXPECT_EQ(t.buffered(), 100u);
  EXPECT_EQ(t.feed(std::string_view(full).substr(108)), full.size() - 108);
  EXPECT_EQ(t.buffered(), max);  // the message waiting to be taken
  EXPECT_EQ(t.next().payload.size(), max);
  EXPECT_EQ(t.buffered(), 0u);
}

TEST(WebSocketFrameReader, StopsAfterEachEvent) {
  const std::string a = text("one"), b = ping("two"), c = binary("three");
  const std::string in = a + b + c;
  ws::frame_reader r(1000);
  EXPECT_EQ(r.feed(in), a.size());
  EXPECT_EQ(r.feed(std::string_view(in).substr(a.size())), 0u);  // the event waits
  EXPECT_EQ(r.next().payload, "one");
  EXPECT_EQ(r.next().what, kind::none);
  EXPECT_EQ(r.feed(std::string_view(in).substr(a.size())), b.size());
  EXPECT_EQ(r.next().what, kind::ping);
  EXPECT_EQ(r.feed(std::string_view(in).substr(a.size() + b.size())), c.size());
  EXPECT_EQ(r.next().payload, "three");
  EXPECT_EQ(r.feed(std::string_view()), 0u);
  EXPECT_FALSE(r.finished());
}

TEST(WebSocketFrameReader, CloseFrames) {
  auto events = run(close_frame(""));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].what, kind::close);
  EXPECT_EQ(events[0].code, close_code::no_status);
  EXPECT_EQ(events[0].payload, "");

  events = run(close_with(1000, "bye \xc3\xa9"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].what, kind::close);
  EXPECT_EQ(events[0].code, close_code::normal);
  EXPECT_EQ(events[0].payload, "bye \xc3\xa9");

  // Nothing after a close is read.
  events = run(close_with(1001) + text("after"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].code, close_code::going_away);

  expect_error(close_frame("\x03"), close_code::protocol_error);  // 1 byte
  for (unsigned ok :
       {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}) {
    events = run(close_with(ok, "r"));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].what, kind::close) << ok;
    EXPECT_EQ(static_cast<unsigned>(events[0].code), ok);
  }
  for (unsigned bad :
       {0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535})
    expect_error(close_with(bad), close_code::protocol_error);
  expect_error(close_with(1000, "\xc0\x80"), close_code::invalid_payload);
  expect_error(close_with(1000, "ok\xe2\x82"), close_code::invalid_payload);  // truncated
}

TEST(WebSocketFrameReader, Utf8EdgeCases) {
  for (std::string bad :
       {"\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
        "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff",
        "\x80", "a\xbf", "\xc2\x41"}) {
    expect_error(text("ok " + bad + " more"), close_code::invalid_payload);
    EXPECT_FALSE(ws::valid_utf8(bad));
  }
  for (std::string good :
       {"\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
        "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xf0\x9f\x98\x80", ""}) {
    EXPECT_EQ(run(text("a" + good + "b")),
              std::vector<ev>{message(opcode::text, "a" + good + "b")});
    EXPECT_TRUE(ws::valid_utf8(good));
  }
  EXPECT_TRUE(ws::valid_utf8(std::string(1000, 'x') + "\xe2\x82\xac" + std::string(13, 'y')));
  EXPECT_FALSE(ws::valid_utf8(std::string(1000, 'x') + "\xe2\x82" + std::string(13, 'y')));
  // An incomplete character at the end of the message.
  expect_error(text("abc\xf0\x9f\x98"), close_code::invalid_payload);
  expect_error(text("abc\xf0\x9f", false) + cont("\x98", true), close_code::invalid_payload);
}

TEST(WebSocketFrameReader, Utf8AcrossFragments) {
  const std::string emoji = "\xf0\x9f\x98\x80";
  for (std::size_t cut = 1; cut < 4; ++cut) {
    const auto in =
        text("x" + emoji.substr(0, cut), false) + ping("p") + cont(emoji.substr(cut) + "y");
    const auto events = run(in);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1], message(opcode::text, "x" + emoji + "y"));
  }
  // Split over three fragments, one byte-pair each.
  EXPECT_EQ(run(text("\xf0\x9f", false) + cont("", false) + cont("\x98\x80")),
            std::vector<ev>{message(opcode::text, emoji)});
  // An invalid byte is found in its fragment, before the message ends.
  ws::frame_reader r(1000);
  const auto first = text("ok\xed\xa0\x80", false);
  EXPECT_EQ(r.feed(first), first.size());
  EXPECT_EQ(r.next().code, close_code::invalid_payload);
  EXPECT_TRUE(r.finished());
  // ... and within a frame, before the frame ends.
  ws::frame_reader s(1000);
  const auto part = text("\xc0\x80 and then a lot more").substr(0, 8);
  s.feed(part);
  EXPECT_EQ(s.next().code, close_code::invalid_payload);
}

TEST(WebSocketFrameReader, ErrorEndsTheReader) {
  ws::frame_reader r(1000);
  const auto in = cont("x") + text("never");
  EXPECT_GT(r.feed(in), 0u);
  auto e = r.next();
  EXPECT_EQ(e.what, kind::error);
  EXPECT_TRUE(r.finished());
  EXPECT_EQ(r.feed(text("more")), 0u);
  EXPECT_EQ(r.next().what, kind::none);
  EXPECT_EQ(r.buffered(), 0u);
}

// --- Writing frames ----------------------------------------------------------------------

TEST(WebSocketEncode, LengthFormsAreMinimal) {
  struct {
    std::size_t n, header;
  } cases[] = {{0, 2}, {125, 2}, {126, 4}, {65535, 4}, {65536, 10}, {100000, 10}};
  for (auto c : cases) {
    const std::string p(c.n, 'x');
    const auto f = ws::encode_frame(opcode::binary, p);
    ASSERT_EQ(f.size(), c.header + c.n) << c.n;
    EXPECT_EQ(static_cast<unsigned char>(f[0]), 0x82);
    std::uint64_t len = static_cast<unsigned char>(f[1]);
    if (c.header == 4) {
      EXPECT_EQ(len, 126u);
      len = static_cast<unsigned char>(f[2]) << 8 | static_cast<unsigned char>(f[3]);
    } else if (c.header == 10) {
      EXPECT_EQ(len, 127u);
      len = 0;
      for (int i = 2; i < 10; ++i) len = len << 8 | static_cast<unsigned char>(f[i]);
    }
    EXPECT_EQ(len, c.n);
    EXPECT_EQ(f.substr(c.header), p);
  }
  std::string out = "prefix";
  ws::append_frame(out, opcode::text, "hi");
  ws::append_frame(out, opcode::pong, "");
  EXPECT_EQ(out, std::string("prefix\x81\x02hi\x8a\x00", 12));
}

TEST(WebSocketEncode, ClosePayload) {
  EXPECT_EQ(ws::close_payload(close_code::normal), std::string("\x03\xe8", 2));
  EXPECT_EQ(ws::close_payload(close_code::message_too_big, "too big"), "\x03\xf1too big");
  // 122 ASCII bytes then a 2-byte character: the character does not fit in 123.
  const std::string reason = std::string(122, 'a') + "\xc3\xa9" + "zz";
  const auto p = ws::close_payload(close_code::going_away, reason);
  EXPECT_EQ(p.size(), 2u + 122u);
  EXPECT_TRUE(ws::valid_utf8(p.substr(2)));
  // Exactly 123 fits; a 4-byte character straddling the cut goes whole.
  EXPECT_EQ(ws::close_payload(close_code::normal, std::string(123, 'b')).size(), 125u);
  const auto q = ws::close_payload(close_code::normal, std::string(121, 'c') + "\xf0\x9f\x98\x80");
  EXPECT_EQ(q.size(), 2u + 121u);
  // What a server sends, a reader takes.
  ws::frame_reader r(10);
  frame_spec f{0x8};
  const auto raw = ws::close_payload(close_code::policy_violation, "no");
  r.feed(frame(f, raw));
  auto e = r.next();
  EXPECT_EQ(e.what, kind::close);
  EXPECT_EQ(e.code, close_code::policy_violation);
  EXPECT_EQ(e.payload, "no");
}

// --- The opening handshake ---------------------------------------------------------------

namespace {

const std::string browser_head =
    "GET /chat?room=a HTTP/1.1\r\n"
    "Host: example.com:8080\r\n"
    "User-Agent: Mozilla/5.0\r\n"
    "Upgrade: websocket\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Origin: https://example.com\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

bool parses(const std::string& head, ws::request& out) {
  std::string why;
  const bool ok = ws::parse_request(head, out, why);
  if (!ok) {
    EXPECT_FALSE(why.empty());
  }
  return ok;
}

bool parses(const std::string& head) {
  ws::request r;
  return parses(head, r);
}

// The browser's head with one line replaced (or removed, when `with` is empty).
std::string with_line(std::string_view name, std::string_view with) {
  std::string h = browser_head;
  const auto at = h.find(std::string(name) + ":");
  const auto end = h.find("\r\n", at) + 2;
  h.replace(at, end - at, with.empty() ? std::string() : std::string(with) + "\r\n");
  return h;
}

}  // namespace

TEST(WebSocketHandshake, AcceptKeyRfcExample) {
  EXPECT_EQ(ws::accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketHandshake, SwitchingProtocols) {
  EXPECT_EQ(ws::switching_protocols("dGhlIHNhbXBsZSBub25jZQ=="),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "\r\n");
}

TEST(WebSocketHandshake, HttpResponseShape) {
  EXPECT_EQ(ws::http_response(400, "Bad Request", "text/plain; charset=utf-8", "no\n"),
            "HTTP/1.1 400 Bad Request\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 3\r\n"
            "Connection: close\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "Cache-Control: no-store\r\n"
            "\r\n"
            "no\n");
  const auto page = ws::http_response(200, "OK", "text/html", "<p>hi</p>",
                                      "Content-Security-Policy: default-src 'self'\r\n");
  EXPECT_NE(page.find("Cache-Control: no-store\r\nContent-Security-Policy: default-src "
                      "'self'\r\n\r\n<p>hi</p>"),
            std::string::npos);
  EXPECT_EQ(page.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(ws::http_response(204, "No Content", "text/plain", "").substr(0, 14), "HTTP/1.1 204 N");
}

TEST(WebSocketRequest, HeadEnd) {
  EXPECT_EQ(ws::head_end(browser_head), browser_head.size());
  EXPECT_EQ(ws::head_end(browser_head + "\x81\x80"), browser_head.size());
  EXPECT_EQ(ws::head_end(browser_head.substr(0, browser_head.size() - 1)), 0u);
  EXPECT_EQ(ws::head_end(""), 0u);
  EXPECT_EQ(ws::head_end("GET / HTTP/1.1\r\nHost: a\r\n"), 0u);
  EXPECT_EQ(ws::head_end("GET / HTTP/1.1\nHost: a\n\nrest"), 24u);
  EXPECT_EQ(ws::head_end("GET / HTTP/1.1\r\nHost: a\n\r\n"), 26u);
  EXPECT_EQ(ws::head_end("GET / HTTP/1.1\r\n\r\n"), 18u);
  // Every prefix of a head has not ended.
  for (std::size_t n = 0; n < browser_head.size(); ++n)
    EXPECT_EQ(ws::head_end(std::string_view(browser_head).substr(0, n)), 0u) << n;
}

TEST(WebSocketRequest, BrowserRequest) {
  ws::request r;
  ASSERT_TRUE(parses(browser_head, r));
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/chat?room=a");
  EXPECT_EQ(r.http_version, "HTTP/1.1");
  EXPECT_EQ(r.host, "example.com:8080");
  EXPECT_EQ(r.origin, "https://example.com");
  EXPECT_TRUE(r.upgrade_websocket);
  EXPECT_TRUE(r.connection_upgrade);
  EXPECT_EQ(r.key, "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_TRUE(r.key_valid);
  EXPECT_EQ(r.version, "13");
  EXPECT_TRUE(r.is_upgrade());
}

TEST(WebSocketRequest, CaseAndWhitespaceAndLineEnds) {
  ws::request r;
  ASSERT_TRUE(
      parses("GET / HTTP/1.1\n"
             "hOsT:a\n"
             "UPGRADE: \t WebSocket \t\n"
             "connection: Upgrade\n"
             "connection: foo,  ,UPGRADE\n"
             "sec-websocket-key:    dGhlIHNhbXBsZSBub25jZQ==   \n"
             "SEC-WEBSOCKET-VERSION:13\n"
             "X-Empty:\n"
             "\n",
             r));
  EXPECT_EQ(r.host, "a");
  EXPECT_EQ(r.key, "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_TRUE(r.is_upgrade());
  // Tokens are whole tokens, not substrings.
  ASSERT_TRUE(parses(with_line("Upgrade", "Upgrade: websocketx, h2c"), r));
  EXPECT_FALSE(r.upgrade_websocket);
  ASSERT_TRUE(parses(with_line("Upgrade", "Upgrade: h2c, websocket"), r));
  EXPECT_TRUE(r.upgrade_websocket);
  ASSERT_TRUE(parses(with_line("Connection", "Connection: keep-alive, upgrades"), r));
  EXPECT_FALSE(r.connection_upgrade);
  // Obs-text in a value is allowed (not a control).
  ASSERT_TRUE(parses(with_line("User-Agent", "User-Agent: caf\xc3\xa9"), r));
}

TEST(WebSocketRequest, NotAnUpgrade) {
  ws::request r;
  const std::pair<std::string, std::string> cases[] = {
      {"Upgrade", ""},
      {"Connection", ""},
      {"Connection", "Connection: keep-alive"},
      {"Sec-WebSocket-Key", ""},
      {"Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"},
      {"Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8"},
      {"Sec-WebSocket-Version", ""},
      {"Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"},      // no padding
      {"Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZXg="},    // 17 bytes
      {"Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j"},        // 15 bytes
      {"Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=!"},    // bad char
      {"Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNh*XBsZSBub25jZQ=="},    // bad char
      {"Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ===="},  // too long
  };
  for (const auto& [name, line] : cases) {
    ASSERT_TRUE(parses(with_line(name, line), r)) << line;
    EXPECT_FALSE(r.is_upgrade()) << name << ": " << line;
  }
  ASSERT_TRUE(
      parses(with_line("Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="), r));
  EXPECT_TRUE(r.key_valid);
  std::string h = browser_head;
  ASSERT_TRUE(parses("POST" + h.substr(3), r));
  EXPECT_FALSE(r.is_upgrade());
  ASSERT_TRUE(parses("get" + h.substr(3), r));  // methods are case-sensitive
  EXPECT_FALSE(r.is_upgrade());
  h.replace(h.find("HTTP/1.1"), 8, "HTTP/1.0");
  ASSERT_TRUE(parses(h, r));  // a page may be asked for over HTTP/1.0
  EXPECT_EQ(r.http_version, "HTTP/1.0");
  EXPECT_FALSE(r.is_upgrade());
  ASSERT_TRUE(parses("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", r));
  EXPECT_FALSE(r.is_upgrade());
}

TEST(WebSocketRequest, Malformed) {
  const std::string tail = browser_head.substr(browser_head.find("\r\n") + 2);
  for (std::string line :
       {"", "GET", "GET /", "GET  / HTTP/1.1", "GET / HTTP/1.1 ", "GET /  HTTP/1.1",
        "GET / HTTP/2.0", "GET / http/1.1", "GET / HTTP/1", "GET ws HTTP/1.1",
        "GET http://a/ HTTP/1.1", "GET * HTTP/1.1", "G(T / HTTP/1.1", "GET /a\x01 HTTP/1.1",
        "GET /\x7f HTTP/1.1", "GET /\xc3\xa9 HTTP/1.1", "GET /\r HTTP/1.1", " GET / HTTP/1.1"}) {
    EXPECT_FALSE(parses(line + "\r\n" + tail)) << line;
  }
  const std::string bad_lines[] = {
      "NoColon",
      ": empty name",
      "Bad Name: x",
      "Host : a",
      "X-Tab\t: a",
      " folded: x",
      "\tfolded",
      "X-A: a\x01",
      std::string("X-A: a\0b", 8),
      "X-A: a\rb",
      "X-A: \x7f",
      "X-A: a\x1b[31m",
      "X(A): a",
      "Host: again",
      "hOST: again",
      "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==",
      "Origin: https://evil.example",
      "Sec-WebSocket-Version: 13",
  };
  for (const auto& bad : bad_lines) {
    std::string h = browser_head;
    h.insert(h.find("Upgrade:"), bad + "\r\n");
    EXPECT_FALSE(parses(h)) << bad;
  }
  // A bare CR at a line's end, and no blank line at all.
  std::string h = browser_head;
  h.insert(h.find("Upgrade:"), "X-A: a\r\r\n");
  EXPECT_FALSE(parses(h));
  EXPECT_FALSE(parses(browser_head.substr(0, browser_head.size() - 2)));
  EXPECT_FALSE(parses("GET / HTTP/1.1\r\nHost: a\r\n"));
  EXPECT_FALSE(parses(""));
}

TEST(WebSocketRequest, Limits) {
  auto head_with = [](int lines, std::size_t value_size) {
    std::string h = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < lines; ++i)
      h += "X-" + std::to_string(i) + ": " + std::string(value_size, 'v') + "\r\n";
    return h + "\r\n";
  };
  EXPECT_TRUE(parses(head_with(100, 1)));
  EXPECT_FALSE(parses(head_with(101, 1)));
  std::string h = "GET / HTTP/1.1\r\nX: ";
  const std::string end = "\r\n\r\n";
  h += std::string(ws::max_head - h.size() - end.size(), 'v') + end;
  ASSERT_EQ(h.size(), ws::max_head);
  EXPECT_TRUE(parses(h));
  h.insert(20, "v");
  EXPECT_FALSE(parses(h));
}

// --- The client's side -------------------------------------------------------------------

namespace {

// As run(), for a reader of the server's frames (role::client): fed whole, a byte at a time
// and at every 2-way split, the same events.
std::vector<ev> run_client_chunks(const std::string& in, const std::vector<std::size_t>& cuts,
                                  std::size_t max_message) {
  ws::frame_reader r(max_message, ws::role::client);
  std::vector<ev> out;
  std::size_t begin = 0;
  auto chunk_end = cuts.begin();
  while (begin < in.size() && !r.finished()) {
    const std::size_t end = chunk_end == cuts.end() ? in.size() : *chunk_end++;
    std::string_view chunk(in.data() + begin, end - begin);
    while (!chunk.empty() && !r.finished()) {
      chunk.remove_prefix(r.feed(chunk));
      EXPECT_LE(r.buffered(), max_message + ws::max_control + 14);
      auto e = r.next();
      if (e.what == kind::none) {
        EXPECT_TRUE(chunk.empty());
        if (!chunk.empty()) return out;
        continue;
      }
      out.push_back({e.what, e.op, e.payload, e.code, e.why});
    }
    begin = end;
  }
  return out;
}

std::vector<ev> run_client(const std::string& in, std::size_t max_message = 1 << 20) {
  const auto whole = run_client_chunks(in, {}, max_message);
  std::vector<std::size_t> bytes;
  for (std::size_t i = 1; i < in.size(); ++i) bytes.push_back(i);
  EXPECT_EQ(run_client_chunks(in, bytes, max_message), whole) << "fed a byte at a time";
  const std::size_t step = in.size() > 3000 ? in.size() / 997 : 1;
  for (std::size_t cut = 1; cut < in.size(); cut += step) {
    EXPECT_EQ(run_client_chunks(in, {cut}, max_message), whole) << "split at " << cut;
    if (::testing::Test::HasFailure()) break;
  }
  return whole;
}

std::string masked(opcode op, std::string_view payload, std::array<std::uint8_t, 4> mask) {
  std::string out;
  ws::append_masked_frame(out, op, payload, mask);
  return out;
}

}  // namespace

TEST(WebSocketClientFrames, MaskedHelloIsTheRfcExample) {
  // RFC 6455 §5.7: the masked "Hello", byte for byte, as the test's own builder makes it.
  const std::string expected("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  EXPECT_EQ(masked(opcode::text, "Hello", {0x37, 0xfa, 0x21, 0x3d}), expected);
  EXPECT_EQ(masked(opcode::text, "Hello", {0x37, 0xfa, 0x21, 0x3d}), text("Hello"));
  // Appended after what is there.
  std::string out = "prefix";
  ws::append_masked_frame(out, opcode::pong, "", std::array<std::uint8_t, 4>{1, 2, 3, 4});
  EXPECT_EQ(out, std::string("prefix\x8a\x80\x01\x02\x03\x04", 12));
}

TEST(WebSocketClientFrames, MaskedFramesEveryLengthFormThroughTheServerReader) {
  std::mt19937 rng(11);
  struct {
    std::size_t n, header;  // header: with the 4-byte key
  } cases[] = {{0, 6},   {1, 6},   {7, 6},    {8, 6},     {9, 6},      {125, 6},
               {126, 8}, {127, 8}, {4099, 8}, {65535, 8}, {65536, 14}, {70001, 14}};
  for (auto c : cases) {
    std::string p;
    for (std::size_t i = 0; i < c.n; ++i) p += static_cast<char>('!' + rng() % 90);
    std::array<std::uint8_t, 4> mask{};
    for (auto& b : mask) b = static_cast<std::uint8_t>(rng());
    const auto f = masked(opcode::text, p, mask);
    ASSERT_EQ(f.size(), c.header + c.n) << c.n;
    EXPECT_EQ(static_cast<unsigned char>(f[1]) & 0x80, 0x80) << c.n;
    EXPECT_EQ(std::string_view(f).substr(c.header - 4, 4),
              std::string_view(reinterpret_cast<const char*>(mask.data()), 4));
    // The same bytes as the test's independent builder, and the server's reader takes them.
    frame_spec spec{0x1};
    spec.mask = mask;
    EXPECT_EQ(f, frame(spec, p)) << c.n;
    EXPECT_EQ(run(f), std::vector<ev>{message(opcode::text, p)}) << c.n;
  }
  // A key of zeros leaves the payload as it is; a binary message and a close too.
  EXPECT_EQ(masked(opcode::binary, "ab", {0, 0, 0, 0}), std::string("\x82\x82\0\0\0\0ab", 8));
  const auto close = ws::close_payload(close_code::normal, "bye");
  EXPECT_EQ(run(masked(opcode::close, close, {9, 8, 7, 6})),
            (std::vector<ev>{{kind::close, opcode::close, "bye", close_code::normal, ""}}));
}

TEST(WebSocketClientFrames, ClientReaderTakesTheServersFrames) {
  // What the server writes: encode_frame / append_frame, unmasked, every length form.
  const std::string p200(200, 'a'), p70k(70000, 'z');
  std::string in;
  ws::append_frame(in, opcode::text, "*** welcome\n");
  ws::append_frame(in, opcode::ping, "");
  ws::append_frame(in, opcode::text, p200);
  ws::append_frame(in, opcode::binary, p70k);
  ws::append_frame(in, opcode::text, "");
  EXPECT_EQ(run_client(in), (std::vector<ev>{
                                message(opcode::text, "*** welcome\n"),
                                {kind::ping, opcode::ping, "", close_code::no_status, ""},
                                message(opcode::text, p200),
                                message(opcode::binary, p70k),
                                message(opcode::text, ""),
                            }));
  // Fragments with a control frame between them, and the server's close.
  frame_spec first{0x1, false}, last{0x0, true}, pong_spec{0xA};
  first.masked = last.masked = pong_spec.masked = false;
  const auto closing = ws::encode_frame(opcode::close, ws::close_payload(close_code::going_away));
  EXPECT_EQ(run_client(frame(first, "line 1\nli") + frame(pong_spec, "p") + frame(last, "ne 2\n") +
                       closing),
            (std::vector<ev>{{kind::pong, opcode::pong, "p", close_code::no_status, ""},
                             message(opcode::text, "line 1\nline 2\n"),
                             {kind::close, opcode::close, "", close_code::going_away, ""}}));
}

TEST(WebSocketClientFrames, ClientReaderRefusesMaskedFramesAndKeepsTheRules) {
  // RFC 6455 §5.1: a client closes the connection on a masked frame.
  for (const auto& in : {text("hello"), ping(""), close_with(1000)}) {
    const auto events = run_client(in);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].what, kind::error);
    EXPECT_EQ(events[0].code, close_code::protocol_error);
    EXPECT_EQ(events[0].why, "masked frame");
  }
  // The other rules are the same for both roles: UTF-8, the size limit, fragmentation.
  const auto bad_utf8 = run_client(ws::encode_frame(opcode::text, "\xc0\xaf"));
  ASSERT_EQ(bad_utf8.size(), 1u);
  EXPECT_EQ(bad_utf8[0].code, close_code::invalid_payload);
  const auto too_big = run_client(ws::encode_frame(opcode::text, std::string(101, 'x')), 100);
  ASSERT_EQ(too_big.size(), 1u);
  EXPECT_EQ(too_big[0].code, close_code::message_too_big);
  frame_spec stray{0x0};
  stray.masked = false;
  const auto continuation = run_client(frame(stray, "x"));
  ASSERT_EQ(continuation.size(), 1u);
  EXPECT_EQ(continuation[0].code, close_code::protocol_error);
  // And the server's reader is unchanged by default: the server's own frames are refused.
  ws::frame_reader server(100);
  server.feed(ws::encode_frame(opcode::text, "x"));
  EXPECT_EQ(server.next().why, std::string("unmasked frame"));
}

TEST(WebSocketClientFrames, ClientReaderHeaderHasNoKey) {
  // A 2-byte header and the payload: nothing is held back waiting for a key.
  ws::frame_reader r(1000, ws::role::client);
  const auto f = ws::encode_frame(opcode::text, "hi");
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(r.feed(std::string_view(f).substr(0, 3)), 3u);
  EXPECT_EQ(r.next().what, kind::none);
  EXPECT_EQ(r.feed(std::string_view(f).substr(3)), 1u);
  EXPECT_EQ(r.next().payload, "hi");
  // Non-minimal length forms, unmasked, are taken as the server's reader takes them masked.
  frame_spec f16{0x1, true, 0, false, 16}, f64{0x1, true, 0, false, 64};
  EXPECT_EQ(run_client(frame(f16, "ab") + frame(f64, "cd")),
            (std::vector<ev>{message(opcode::text, "ab"), message(opcode::text, "cd")}));
}

TEST(WebSocketClientHandshake, KeyAndRequest) {
  // RFC 6455 §4.1's example nonce "the sample nonce".
  const std::string_view nonce = "the sample nonce";
  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t i = 0; i < 16; ++i) bytes[i] = static_cast<std::uint8_t>(nonce[i]);
  const auto key = ws::make_key(bytes);
  EXPECT_EQ(key, "dGhlIHNhbXBsZSBub25jZQ==");

  const auto head = ws::upgrade_request("127.0.0.1:8080", "/ws", key);
  EXPECT_EQ(ws::head_end(head), head.size());
  ws::request r;
  std::string why;
  ASSERT_TRUE(ws::parse_request(head, r, why)) << why;
  EXPECT_TRUE(r.is_upgrade());
  EXPECT_EQ(r.target, "/ws");
  EXPECT_EQ(r.host, "127.0.0.1:8080");
  EXPECT_EQ(r.key, key);
  EXPECT_TRUE(r.origin.empty());
  EXPECT_EQ(head.find("Origin"), std::string::npos);

  ASSERT_TRUE(ws::parse_request(ws::upgrade_request("h:1", "/x?y", key, "http://h:1"), r, why));
  EXPECT_TRUE(r.is_upgrade());
  EXPECT_EQ(r.origin, "http://h:1");
  EXPECT_EQ(r.target, "/x?y");

  // Any 16 bytes make a key the server takes.
  std::mt19937 rng(3);
  for (int i = 0; i < 50; ++i) {
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    ASSERT_TRUE(ws::parse_request(ws::upgrade_request("h", "/", ws::make_key(bytes)), r, why));
    EXPECT_TRUE(r.key_valid);
  }
}

TEST(WebSocketClientHandshake, CheckUpgradeResponse) {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  std::string why;
  EXPECT_TRUE(ws::check_upgrade_response(ws::switching_protocols(key), key, why)) << why;
  // Names in any case, LF line ends, token lists, no reason phrase.
  EXPECT_TRUE(ws::check_upgrade_response(
      "HTTP/1.1 101\nupgrade: WebSocket\nCONNECTION: keep-alive, upgrade\n"
      "sec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \n\n",
      key, why))
      << why;

  auto refused = [&](const std::string& head, std::string_view expect_in_why) {
    std::string w;
    EXPECT_FALSE(ws::check_upgrade_response(head, key, w)) << head;
    EXPECT_NE(w.find(expect_in_why), std::string::npos) << w;
    return w;
  };
  refused(ws::switching_protocols("x3JJHMbDL1EzLkh9GBhXDw=="), "wrong Sec-WebSocket-Accept");
  refused(ws::http_response(403, "Forbidden", "text/plain", "no\n"),
          "not 101 Switching Protocols: HTTP/1.1 403 Forbidden");
  refused("HTTP/1.0 101 Switching Protocols\r\n\r\n", "not 101");
  refused("HTTP/1.1 1010 x\r\n\r\n", "not 101");
  const std::string ok = ws::switching_protocols(key);
  auto without = [&](std::string_view name) {
    std::string h = ok;
    const auto at = h.find(std::string(name) + ":");
    h.erase(at, h.find("\r\n", at) + 2 - at);
    return h;
  };
  refused(without("Upgrade"), "no Upgrade");
  refused(without("Connection"), "no Connection");
  refused(without("Sec-WebSocket-Accept"), "no Sec-WebSocket-Accept");
  refused(ok.substr(0, ok.size() - 2), "not ended");
  refused("HTTP/1.1 101 x\r\nUpgrade websocket\r\n\r\n", "without a colon");
  refused("HTTP/1.1 101 x\r\nUp grade: websocket\r\n\r\n", "bad header name");
  refused("HTTP/1.1 101 x\r\nX: a\x01\r\n\r\n", "control byte");
  refused(
      ok.substr(0, ok.size() - 2) + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
      "repeated Sec-WebSocket-Accept");
  // The status line in `why` is printable ASCII only, and at most 80 bytes of it.
  const auto w =
      refused("HTTP/1.1 200 \xc3\xa9\x1b[31m" + std::string(200, 'z') + "\r\n\r\n", "not 101");
  for (char c : w) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << int(c);
  EXPECT_LE(w.size(), std::string("not 101 Switching Protocols: ").size() + 80);
}
