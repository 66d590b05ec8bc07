// websocket: RFC 6455's opening handshake (the request head, the 101 answer, plain HTTP
// answers) and frames. The frame reader is a small state machine over header bytes, then
// payload bytes: each chunk of payload is unmasked 8 bytes at a time and, for text, run
// through a UTF-8 DFA as it arrives, so nothing is buffered but the message itself, and no
// buffer is sized from a length the client claims beyond what max_message allows. Over 500
// lines: both sides' handshakes and frames share the parsing helpers and the masking here.
#include "sockit/codec/websocket.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace sockit::codec::websocket {
namespace {

// --- UTF-8 ----------------------------------------------------------------------------
// A DFA in the manner of Bjoern Hoehrmann's: each byte falls in one of 12 classes, and a
// (state, class) table says where to go. State 0 is "between characters", 1 is "invalid"
// (and stays so); the others are "inside a character, expecting ...".

enum : std::uint8_t {
  s_accept = 0,
  s_reject = 1,
  s_tail1 = 2,  // one continuation byte (80..BF) left
  s_tail2 = 3,  // two left
  s_e0 = 4,     // after E0: A0..BF (no overlongs), then one more
  s_ed = 5,     // after ED: 80..9F (no surrogates), then one more
  s_tail3 = 6,  // after F1..F3: three left
  s_f0 = 7,     // after F0: 90..BF (no overlongs), then two more
  s_f4 = 8,     // after F4: 80..8F (nothing past U+10FFFF), then two more
  utf8_states = 9,
};

enum : std::uint8_t {
  c_ascii,  // 00..7F
  c_80_8f,  // continuation bytes, in three ranges
  c_90_9f,
  c_a0_bf,
  c_lead2,  // C2..DF
  c_e0,
  c_lead3,  // E1..EC, EE..EF
  c_ed,
  c_f0,
  c_lead4,  // F1..F3
  c_f4,
  c_invalid,  // C0, C1, F5..FF
  utf8_classes,
};

constexpr std::array<std::uint8_t, 256> utf8_class_table = [] {
  std::array<std::uint8_t, 256> t{};
  for (int b = 0; b < 256; ++b) {
    std::uint8_t c = c_invalid;
    if (b < 0x80)
      c = c_ascii;
    else if (b < 0x90)
      c = c_80_8f;
    else if (b < 0xA0)
      c = c_90_9f;
    else if (b < 0xC0)
      c = c_a0_bf;
    else if (b < 0xC2)
      c = c_invalid;
    else if (b < 0xE0)
      c = c_lead2;
    else if (b == 0xE0)
      c = c_e0;
    else if (b == 0xED)
      c = c_ed;
    else if (b < 0xF0)
      c = c_lead3;
    else if (b == 0xF0)
      c = c_f0;
    else if (b < 0xF4)
      c = c_lead4;
    else if (b == 0xF4)
      c = c_f4;
    t[static_cast<std::size_t>(b)] = c;
  }
  return t;
}();

constexpr std::array<std::array<std::uint8_t, utf8_classes>, utf8_states> utf8_next = [] {
  std::array<std::array<std::uint8_t, utf8_classes>, utf8_states> t{};
  for (auto& row : t) row.fill(s_reject);
  auto& a = t[s_accept];
  a[c_ascii] = s_accept;
  a[c_lead2] = s_tail1;
  a[c_e0] = s_e0;
  a[c_lead3] = s_tail2;
  a[c_ed] = s_ed;
  a[c_f0] = s_f0;
  a[c_lead4] = s_tail3;
  a[c_f4] = s_f4;
  for (auto c : {c_80_8f, c_90_9f, c_a0_bf}) {
    t[s_tail1][c] = s_accept;
    t[s_tail2][c] = s_tail1;
    t[s_tail3][c] = s_tail2;
  }
  t[s_e0][c_a0_bf] = s_tail1;
  t[s_ed][c_80_8f] = s_tail1;
  t[s_ed][c_90_9f] = s_tail1;
  t[s_f0][c_90_9f] = s_tail2;
  t[s_f0][c_a0_bf] = s_tail2;
  t[s_f4][c_80_8f] = s_tail2;
  return t;
}();

// Runs the DFA over `n` bytes from `state`; ASCII runs go 8 bytes at a time.
std::uint8_t utf8_step(std::uint8_t state, const std::uint8_t* p, std::size_t n) noexcept {
  std::size_t i = 0;
  while (i < n) {
    if (state == s_accept) {
      while (i + 8 <= n) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ull) break;
        i += 8;
      }
      if (i == n) break;
    }
    state = utf8_next[state][utf8_class_table[p[i]]];
    if (state == s_reject) return s_reject;
    ++i;
  }
  return state;
}

// --- Masking --------------------------------------------------------------------------

// XORs `n` bytes from `src` into `dst` (which may be `src`) with `mask`, starting `offset`
// bytes into the mask's 4-byte cycle.
void unmask(std::uint8_t* dst, const std::uint8_t* src, std::size_t n, const std::uint8_t* mask,
            std::uint64_t offset) noexcept {
  std::uint8_t m8[8];
  for (std::size_t k = 0; k < 8; ++k) m8[k] = mask[(offset + k) & 3];
  std::uint64_t m;
  std::memcpy(&m, m8, 8);  // the mask's bytes in memory order, whatever the endianness
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, src + i, 8);
    w ^= m;
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < n; ++i) dst[i] = src[i] ^ m8[i & 7];
}

// Makes room for `need` bytes in `s` without its capacity passing `limit` (need <= limit):
// doubling as fragments come, so many small ones are not quadratic, but never beyond what
// max_message allows (std::string's own growth could double past it).
void grow(std::string& s, std::size_t need, std::size_t limit) {
  if (need <= s.capacity()) return;
  const std::size_t want = std::max(need, std::min(2 * s.capacity(), limit));
  std::string fresh;
  fresh.reserve(want);
  fresh.append(s);
  s.swap(fresh);
}

bool is_control(opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

bool known_opcode(std::uint8_t op) noexcept { return op <= 0x2 || (op >= 0x8 && op <= 0xA); }

// RFC 6455 §7.4: the codes a peer may put in a close frame.
bool valid_close_code(unsigned code) noexcept {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

// Writes a frame's first bytes, FIN set, with the minimal length form and the MASK bit as
// asked (not the key): 2, 4 or 10 bytes, returned.
std::size_t frame_head(std::uint8_t* head, opcode op, std::size_t n, bool masked) noexcept {
  const std::uint8_t m = masked ? 0x80 : 0;
  std::size_t h = 0;
  head[h++] = static_cast<std::uint8_t>(0x80 | static_cast<std::uint8_t>(op));
  if (n < 126) {
    head[h++] = static_cast<std::uint8_t>(m | n);
  } else if (n <= 0xFFFF) {
    head[h++] = m | 126;
    head[h++] = static_cast<std::uint8_t>(n >> 8);
    head[h++] = static_cast<std::uint8_t>(n);
  } else {
    head[h++] = m | 127;
    for (int shift = 56; shift >= 0; shift -= 8)
      head[h++] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(n) >> shift);
  }
  return h;
}

// --- HTTP text ------------------------------------------------------------------------

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// RFC 9110's tchar: what a method or a header name is made of.
bool tchar(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  if (u >= '0' && u <= '9') return true;
  if ((u | 0x20) >= 'a' && (u | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), tchar);
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether the comma-separated list `value` holds `want` (any case), one or more times.
bool has_token(std::string_view value, std::string_view want) noexcept {
  while (true) {
    const auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), want)) return true;
    if (comma == std::string_view::npos) return false;
    value.remove_prefix(comma + 1);
  }
}

// A value's bytes: visible ASCII, space, tab, and obs-text (80..FF); no CR, LF, NUL or
// other controls.
bool plain_value(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

bool key_is_16_bytes(std::string_view key) noexcept {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < 22; ++i)
    if (alphabet.find(key[i]) == std::string_view::npos) return false;
  unsigned char out[18];
  return EVP_DecodeBlock(out, reinterpret_cast<const unsigned char*>(key.data()), 24) == 18;
}

bool fail_parse(std::string& why, const char* what) {
  why = what;
  return false;
}

}  // namespace

// --- The opening handshake -----------------------------------------------------------

std::size_t head_end(std::string_view in) noexcept {
  std::size_t at = 0;
  while (true) {
    const auto lf = in.find('\n', at);
    if (lf == std::string_view::npos) return 0;
    if (lf + 1 < in.size() && in[lf + 1] == '\n') return lf + 2;
    if (lf + 2 < in.size() && in[lf + 1] == '\r' && in[lf + 2] == '\n') return lf + 3;
    at = lf + 1;
  }
}

bool request::is_upgrade() const noexcept {
  return method == "GET" && http_version == "HTTP/1.1" && upgrade_websocket && connection_upgrade &&
         key_valid && version == "13";
}

bool parse_request(std::string_view head, request& out, std::string& why) {
  out = request{};
  if (head.size() > max_head) return fail_parse(why, "request head too long");
  bool seen_host = false, seen_origin = false, seen_key = false, seen_version = false;
  bool first = true;
  int lines = 0;
  while (true) {
    const auto lf = head.find('\n');
    if (lf == std::string_view::npos) return fail_parse(why, "request head not ended");
    std::string_view line = head.substr(0, lf);
    head.remove_prefix(lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != std::string_view::npos) return fail_parse(why, "bare CR in the head");
    if (first) {
      first = false;
      const auto sp1 = line.find(' ');
      const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
      if (sp2 == std::string_view::npos) return fail_parse(why, "bad request line");
      const auto method = line.substr(0, sp1);
      const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      const auto version = line.substr(sp2 + 1);
      if (!token(method)) return fail_parse(why, "bad request method");
      if (target.empty() || target.front() != '/' ||
          !std::all_of(target.begin(), target.end(), [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return u > 0x20 && u < 0x7f;
          }))
        return fail_parse(why, "bad request target");
      if (version != "HTTP/1.1" && version != "HTTP/1.0")
        return fail_parse(why, "not HTTP/1.1 or HTTP/1.0");
      out.method = method;
      out.target = target;
      out.http_version = version;
      continue;
    }
    if (line.empty()) break;  // the blank line: the head is complete
    if (++lines > 100) return fail_parse(why, "more than 100 header lines");
    if (line.front() == ' ' || line.front() == '\t')
      return fail_parse(why, "obsolete line folding");
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return fail_parse(why, "header line without a colon");
    const auto name = line.substr(0, colon);
    if (!token(name)) return fail_parse(why, "bad header name");
    const auto raw = line.substr(colon + 1);
    if (!plain_value(raw)) return fail_parse(why, "control byte in a header value");
    const auto value = trim(raw);
    auto once = [&](bool& seen, std::string& into, const char* twice) {
      if (seen) return fail_parse(why, twice);
      seen = true;
      into = value;
      return true;
    };
    if (iequals(name, "host")) {
      if (!once(seen_host, out.host, "repeated Host")) return false;
    } else if (iequals(name, "origin")) {
      if (!once(seen_origin, out.origin, "repeated Origin")) return false;
    } else if (iequals(name, "sec-websocket-key")) {
      if (!once(seen_key, out.key, "repeated Sec-WebSocket-Key")) return false;
      out.key_valid = key_is_16_bytes(value);
    } else if (iequals(name, "sec-websocket-version")) {
      if (!once(seen_version, out.version, "repeated Sec-WebSocket-Version")) return false;
    } else if (iequals(name, "upgrade")) {
      out.upgrade_websocket = out.upgrade_websocket || has_token(value, "websocket");
    } else if (iequals(name, "connection")) {
      out.connection_upgrade = out.connection_upgrade || has_token(value, "upgrade");
    }
  }
  return true;
}

std::string accept_key(std::string_view key) {
  static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input;
  input.reserve(key.size() + guid.size());
  input.append(key).append(guid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &digest_len, EVP_sha1(), nullptr) != 1 ||
      digest_len != 20)
    return {};
  unsigned char text[29];  // 4 * ceil(20 / 3) + NUL
  const int n = EVP_EncodeBlock(text, digest, 20);
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(n));
}

std::string switching_protocols(std::string_view key) {
  std::string out =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  out += accept_key(key);
  out += "\r\n\r\n";
  return out;
}

// --- The client's side of the handshake ---------------------------------------------

std::string make_key(std::span<const std::uint8_t, 16> nonce) {
  unsigned char text[25];  // 4 * ceil(16 / 3) + NUL
  const int n = EVP_EncodeBlock(text, nonce.data(), 16);
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(n));
}

std::string upgrade_request(std::string_view host, std::string_view target, std::string_view key,
                            std::string_view origin) {
  std::string out = "GET ";
  out += target;
  out += " HTTP/1.1\r\nHost: ";
  out += host;
  out +=
      "\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Key: ";
  out += key;
  out += "\r\nSec-WebSocket-Version: 13\r\n";
  if (!origin.empty()) {
    out += "Origin: ";
    out += origin;
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

bool check_upgrade_response(std::string_view head, std::string_view key, std::string& why) {
  if (head.size() > max_head) return fail_parse(why, "response head too long");
  bool first = true, upgrade = false, connection = false, seen_accept = false;
  std::string_view accept;
  int lines = 0;
  while (true) {
    const auto lf = head.find('\n');
    if (lf == std::string_view::npos) return fail_parse(why, "response head not ended");
    std::string_view line = head.substr(0, lf);
    head.remove_prefix(lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != std::string_view::npos) return fail_parse(why, "bare CR in the head");
    if (first) {
      first = false;
      // "HTTP/1.1 101 Switching Protocols": the reason phrase is free text.
      if (line.substr(0, 13) != "HTTP/1.1 101 " && line != "HTTP/1.1 101") {
        why = "not 101 Switching Protocols: ";
        why.append(line.substr(0, 80));
        std::replace_if(
            why.begin(), why.end(),
            [](char c) {
              const auto u = static_cast<unsigned char>(c);
              return u < 0x20 || u >= 0x7f;
            },
            '?');
        return false;
      }
      continue;
    }
    if (line.empty()) break;
    if (++lines > 100) return fail_parse(why, "more than 100 header lines");
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return fail_parse(why, "header line without a colon");
    const auto name = line.substr(0, colon);
    if (!token(name)) return fail_parse(why, "bad header name");
    const auto raw = line.substr(colon + 1);
    if (!plain_value(raw)) return fail_parse(why, "control byte in a header value");
    const auto value = trim(raw);
    if (iequals(name, "upgrade")) {
      upgrade = upgrade || has_token(value, "websocket");
    } else if (iequals(name, "connection")) {
      connection = connection || has_token(value, "upgrade");
    } else if (iequals(name, "sec-websocket-accept")) {
      if (seen_accept) return fail_parse(why, "repeated Sec-WebSocket-Accept");
      seen_accept = true;
      accept = value;
    }
  }
  if (!upgrade) return fail_parse(why, "no Upgrade: websocket");
  if (!connection) return fail_parse(why, "no Connection: Upgrade");
  if (!seen_accept) return fail_parse(why, "no Sec-WebSocket-Accept");
  if (accept != accept_key(key)) return fail_parse(why, "wrong Sec-WebSocket-Accept");
  return true;
}

std::string http_response(int status, std::string_view reason, std::string_view content_type,
                          std::string_view body, std::string_view extra_headers) {
  std::string out = "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason;
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  out +=
      "\r\nConnection: close\r\n"
      "X-Content-Type-Options: nosniff\r\n"
      "Cache-Control: no-store\r\n";
  out += extra_headers;
  out += "\r\n";
  out += body;
  return out;
}

// --- Frames ---------------------------------------------------------------------------

void frame_reader::fail(close_code code, const char* why) {
  pending_ = event{};
  pending_.what = event::kind::error;
  pending_.code = code;
  pending_.why = why;
  finished_ = true;
  message_ = std::string();
  control_ = std::string();
  in_header_ = false;  // the partial header is dropped too: buffered() is 0 once taken
  header_have_ = 0;
}

bool frame_reader::start_header() {
  const std::uint8_t b0 = header_[0], b1 = header_[1];
  fin_ = (b0 & 0x80) != 0;
  if (b0 & 0x70) return fail(close_code::protocol_error, "reserved bits set"), false;
  const std::uint8_t op = b0 & 0x0F;
  if (!known_opcode(op)) return fail(close_code::protocol_error, "unknown opcode"), false;
  op_ = static_cast<opcode>(op);
  if (((b1 & 0x80) != 0) != masked_)
    return fail(close_code::protocol_error, masked_ ? "unmasked frame" : "masked frame"), false;
  const std::uint8_t len7 = b1 & 0x7F;
  if (is_control(op_)) {
    if (!fin_) return fail(close_code::protocol_error, "fragmented control frame"), false;
    // 126 and 127 announce an extended length: decided in end_header, once it is known
    // (a non-minimal encoding of a short length is allowed, like a data frame's).
  } else if (op_ == opcode::continuation) {
    if (!in_message_)
      return fail(close_code::protocol_error, "continuation outside a message"), false;
  } else if (in_message_) {
    return fail(close_code::protocol_error, "new message inside a fragmented one"), false;
  }
  header_need_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked_ ? 4 : 0);
  return true;
}

bool frame_reader::end_header() {
  const std::uint8_t len7 = header_[1] & 0x7F;
  std::size_t at = 2;
  if (len7 == 126) {
    length_ = static_cast<std::uint64_t>(header_[2]) << 8 | header_[3];
    at = 4;
  } else if (len7 == 127) {
    length_ = 0;
    for (std::size_t i = 0; i < 8; ++i) length_ = length_ << 8 | header_[2 + i];
    if (length_ >> 63)
      return fail(close_code::protocol_error, "64-bit length with top bit set"), false;
    at = 10;
  } else {
    length_ = len7;
  }
  if (masked_) std::memcpy(mask_, header_ + at, 4);
  got_ = 0;
  in_header_ = false;
  if (is_control(op_)) {
    if (length_ > max_control)
      return fail(close_code::protocol_error, "control frame longer than 125 bytes"), false;
    control_.clear();
    control_.reserve(static_cast<std::size_t>(length_));  // <= 125
    return true;
  }
  // A data frame: the message so far plus this frame must fit, decided now, before its
  // payload arrives (message_.size() <= max_message_ always holds).
  if (length_ > max_message_ - message_.size())
    return fail(close_code::message_too_big, "message larger than the limit"), false;
  if (op_ != opcode::continuation) {
    message_op_ = op_;
    utf8_state_ = s_accept;
  }
  grow(message_, message_.size() + static_cast<std::size_t>(length_), max_message_);
  return true;
}

bool frame_reader::take_payload(const std::uint8_t* p, std::size_t n) {
  std::string& into = is_control(op_) ? control_ : message_;
  const std::size_t old = into.size();
  into.append(reinterpret_cast<const char*>(p), n);
  auto* dst = reinterpret_cast<std::uint8_t*>(into.data()) + old;
  if (masked_) unmask(dst, dst, n, mask_, got_);
  got_ += n;
  if (!is_control(op_) && message_op_ == opcode::text) {
    utf8_state_ = utf8_step(utf8_state_, dst, n);
    if (utf8_state_ == s_reject)
      return fail(close_code::invalid_payload, "text message is not UTF-8"), false;
  }
  return true;
}

void frame_reader::end_frame() {
  in_header_ = true;
  header_have_ = 0;
  header_need_ = 2;
  if (is_control(op_)) {
    event e;
    e.op = op_;
    if (op_ == opcode::ping) {
      e.what = event::kind::ping;
      e.payload = std::move(control_);
    } else if (op_ == opcode::pong) {
      e.what = event::kind::pong;
      e.payload = std::move(control_);
    } else {
      if (control_.size() == 1) return fail(close_code::protocol_error, "close payload of 1 byte");
      e.what = event::kind::close;
      if (control_.size() >= 2) {
        const unsigned code =
            static_cast<unsigned char>(control_[0]) << 8 | static_cast<unsigned char>(control_[1]);
        if (!valid_close_code(code)) return fail(close_code::protocol_error, "invalid close code");
        const std::string_view reason = std::string_view(control_).substr(2);
        if (!valid_utf8(reason))
          return fail(close_code::invalid_payload, "close reason is not UTF-8");
        e.code = static_cast<close_code>(code);
        e.payload = reason;
      }
      finished_ = true;
      message_ = std::string();
    }
    control_ = std::string();
    pending_ = std::move(e);
    return;
  }
  if (!fin_) {
    in_message_ = true;
    return;
  }
  if (message_op_ == opcode::text && utf8_state_ != s_accept)
    return fail(close_code::invalid_payload, "text message ends inside a UTF-8 character");
  in_message_ = false;
  pending_ = event{};
  pending_.what = event::kind::message;
  pending_.op = message_op_;
  pending_.payload = std::move(message_);
  message_ = std::string();
}

std::size_t frame_reader::feed(std::span<const std::uint8_t> in) {
  if (finished_ || pending_.what != event::kind::none) return 0;
  std::size_t used = 0;
  while (used < in.size()) {
    if (in_header_) {
      const std::size_t take = std::min(header_need_ - header_have_, in.size() - used);
      std::memcpy(header_ + header_have_, in.data() + used, take);
      header_have_ += take;
      used += take;
      if (header_have_ < header_need_) continue;
      if (header_need_ == 2) {
        if (!start_header()) return used;
        // Now for the extended length and the mask; a server's frame with a short length
        // has neither, so its header is complete already.
        if (header_have_ < header_need_) continue;
      }
      if (!end_header()) return used;
    } else {
      const auto left =
          static_cast<std::size_t>(std::min<std::uint64_t>(length_ - got_, in.size() - used));
      if (!take_payload(in.data() + used, left)) return used + left;
      used += left;
    }
    if (!in_header_ && got_ == length_) {
      end_frame();
      if (pending_.what != event::kind::none) return used;
    }
  }
  return used;
}

event frame_reader::next() {
  event e = std::move(pending_);
  pending_ = event{};
  return e;
}

std::size_t frame_reader::buffered() const noexcept {
  return message_.size() + control_.size() + pending_.payload.size() +
         (in_header_ ? header_have_ : 0);
}

bool frame_reader::finished() const noexcept { return finished_; }

void append_frame(std::string& out, opcode op, std::string_view payload) {
  const std::size_t n = payload.size();
  std::uint8_t head[10];
  const std::size_t h = frame_head(head, op, n, false);
  out.reserve(out.size() + h + n);
  out.append(reinterpret_cast<const char*>(head), h);
  out.append(payload);
}

void append_masked_frame(std::string& out, opcode op, std::string_view payload,
                         std::span<const std::uint8_t, 4> mask) {
  const std::size_t n = payload.size();
  std::uint8_t head[14];
  std::size_t h = frame_head(head, op, n, true);
  std::memcpy(head + h, mask.data(), 4);
  h += 4;
  const std::size_t old = out.size();
  out.resize(old + h + n);
  auto* dst = reinterpret_cast<std::uint8_t*>(out.data()) + old;
  std::memcpy(dst, head, h);
  unmask(dst + h, reinterpret_cast<const std::uint8_t*>(payload.data()), n, mask.data(), 0);
}

std::string encode_frame(opcode op, std::string_view payload) {
  std::string out;
  append_frame(out, op, payload);
  return out;
}

std::string close_payload(close_code code, std::string_view reason) {
  const auto c = static_cast<std::uint16_t>(code);
  std::string out;
  out += static_cast<char>(c >> 8);
  out += static_cast<char>(c & 0xFF);
  if (reason.size() > max_control - 2) {
    std::size_t cut = max_control - 2;
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  out += reason;
  return out;
}

bool valid_utf8(std::string_view s) noexcept {
  return utf8_step(s_accept, reinterpret_cast<const std::uint8_t*>(s.data()), s.size()) == s_accept;
}

}  // namespace sockit::codec::websocket
