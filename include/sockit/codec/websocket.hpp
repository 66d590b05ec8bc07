// websocket: RFC 6455's wire format, the server's side of it: the opening handshake's
// request head and answer, and frames (read from a client, written to it). No I/O and no
// Asio (the muduo way: session/websocket.hpp does the reads and writes), so every rule a
// hostile client could test is here, tested at every split offset and fuzzed. The client's
// side (the upgrade request and its answer, masked frames, reading unmasked ones) is here
// too, for sockit's own load generator (service/chat_bench).
// Why our own: no Debian package fits standalone Asio with ASIO_NO_DEPRECATED (websocketpp
// 0.8.2 uses the removed io_service API, Beast needs Boost.Asio, libwebsockets has no
// foreign-loop support).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sockit::codec::websocket {

/// A request head longer than this is refused (a browser's is well under 2 KiB).
inline constexpr std::size_t max_head = 8 * 1024;
/// Control frames' payloads (RFC 6455 §5.5).
inline constexpr std::size_t max_control = 125;

enum class opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

/// Close codes (RFC 6455 §7.4.1) the server sends.
enum class close_code : std::uint16_t {
  normal = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported_data = 1003,
  no_status = 1005,        // never on the wire: a close frame without a code
  invalid_payload = 1007,  // text that is not UTF-8
  policy_violation = 1008,
  message_too_big = 1009,
  internal_error = 1011,
};

// --- The opening handshake -----------------------------------------------------------

/// Where the head in `in` ends (just past the blank line: CRLFCRLF, or LFLF as lenient
/// clients send), or 0 when it has not ended yet.
std::size_t head_end(std::string_view in) noexcept;

/// A request head, parsed. Header values are trimmed; names compared case-insensitively.
struct request {
  std::string method;               // "GET"
  std::string target;               // "/ws", as sent (no decoding)
  std::string host;                 // the Host header, empty when absent
  std::string origin;               // the Origin header, empty when absent
  bool upgrade_websocket = false;   // Upgrade holds the token "websocket" (any case)
  bool connection_upgrade = false;  // Connection holds the token "upgrade" (any case)
  std::string key;                  // Sec-WebSocket-Key as sent, trimmed
  bool key_valid = false;           // key is base64 of exactly 16 bytes
  std::string version;              // Sec-WebSocket-Version, trimmed
  std::string http_version;         // "HTTP/1.1" or "HTTP/1.0", from the request line
  /// Whether this asks for a WebSocket: method GET over HTTP/1.1, both tokens, a valid key,
  /// version 13.
  bool is_upgrade() const noexcept;
};

/// Parses a complete head (up to head_end; anything after its blank line is ignored):
/// "METHOD SP /target SP HTTP/1.1" (or HTTP/1.0: is_upgrade refuses it, a page may not),
/// then header lines, each ending in CRLF or LF. False, with `why`, for anything malformed:
/// a missing or bad request line (a target not starting with '/', or with spaces or
/// controls), no blank line at the end, a line without a colon, an empty name or one with
/// spaces or controls, obsolete line folding, a CR, NUL or other control in a value, a
/// repeated Host, Origin, Sec-WebSocket-Key or Sec-WebSocket-Version, more than 100 header
/// lines, or a head longer than max_head. Upgrade and Connection may repeat (their tokens
/// are joined).
bool parse_request(std::string_view head, request& out, std::string& why);

/// Sec-WebSocket-Accept for a key: base64(SHA-1(key + the RFC's GUID)), with OpenSSL.
std::string accept_key(std::string_view key);

/// The 101 answer to a valid upgrade request.
std::string switching_protocols(std::string_view key);

// --- The client's side of the handshake ---------------------------------------------
// (Load generators and tests speak to the server as a client; browsers have their own.)

/// A Sec-WebSocket-Key: base64 of the caller's 16 random bytes (the codec has no source of
/// randomness of its own).
std::string make_key(std::span<const std::uint8_t, 16> nonce);

/// A client's upgrade request head: "GET target HTTP/1.1", Host, Upgrade, Connection, the
/// key, version 13, and Origin only when `origin` is not empty; ends with the blank line.
std::string upgrade_request(std::string_view host, std::string_view target, std::string_view key,
                            std::string_view origin = {});

/// Checks a server's answer head (up to head_end) to upgrade_request(..., key, ...): status
/// 101 over HTTP/1.1, Upgrade holding "websocket", Connection holding "upgrade", and
/// Sec-WebSocket-Accept equal to accept_key(key). False, with `why` (naming the status line,
/// its first 80 bytes with anything but printable ASCII as '?', when it is not 101), otherwise; a
/// malformed head (no blank line, a line without a colon, a control byte in a value, a repeated
/// Sec-WebSocket-Accept) is refused too.
bool check_upgrade_response(std::string_view head, std::string_view key, std::string& why);

/// A complete HTTP/1.1 response with Connection: close, Content-Length and the given
/// type, e.g. (400, "Bad Request", "text/plain; charset=utf-8", "..."). For the page too
/// (`extra_headers`: whole lines, each ending in CRLF, such as a Content-Security-Policy).
std::string http_response(int status, std::string_view reason, std::string_view content_type,
                          std::string_view body, std::string_view extra_headers = {});

// --- Frames ---------------------------------------------------------------------------

/// One message or control frame the reader has completed.
struct event {
  enum class kind : std::uint8_t {
    none,     // nothing complete yet: feed more bytes
    message,  // a whole text or binary message (its fragments joined): `op` and `payload`
    ping,     // payload: to be echoed in a pong
    pong,
    close,  // the client's close: `code` (no_status when it sent none) and `payload` = reason
    error,  // the client broke a rule: close with `code`, `why` says which (for a log)
  };
  kind what = kind::none;
  opcode op = opcode::text;
  std::string payload;
  close_code code = close_code::no_status;
  const char* why = "";
};

/// Whose frames a reader reads: a server reads a client's (masked), a client a server's
/// (unmasked).
enum class role : std::uint8_t { server, client };

/// Reads a client's frames incrementally (or, constructed with role::client, a server's:
/// the same rules, except that frames must be unmasked, 1002 otherwise, RFC 6455 §5.1): bytes go in
/// as they arrive, split anywhere; events come out one at a time. Enforced (each an error event
/// with the close code the RFC names): frames must be masked (1002); reserved bits zero, no
/// extension agreed (1002); known opcodes only (1002); control frames at most 125 bytes and never
/// fragmented (1002); a continuation only inside a message, a new data frame only outside
/// one (1002); a 64-bit length with its top bit clear (1002), though minimal length
/// encodings are not required (browsers send minimal ones; RFC 6455 §5.2 says "MUST" for
/// senders, not for readers); a message, its fragments joined, at most `max_message` bytes (1009,
/// decided from the header before the payload arrives); text messages valid UTF-8 (1007, checked as
/// fragments arrive, so an invalid byte is found before the message ends); a close frame's payload
/// empty or a code (1002 when 1 byte, a reserved code, or one not allowed on the wire) plus a UTF-8
/// reason (1007). After an error or a close, the reader takes nothing more: feed() returns 0 and,
/// once that event is taken, next() returns kind::none. Memory: the reader holds at most
/// max_message + max_control + 14 bytes (buffered()), whatever lengths the headers claim.
class frame_reader {
 public:
  explicit frame_reader(std::size_t max_message, role r = role::server)
      : max_message_(max_message), masked_(r == role::server) {}

  /// Takes bytes from `in`, as many as it can use, and returns how many it took; stops
  /// early when an event is complete (then next() returns it). Call next(), then feed
  /// again with the rest: while an event waits to be taken, feed() takes nothing (returns 0).
  std::size_t feed(std::span<const std::uint8_t> in);
  std::size_t feed(std::string_view in) {
    return feed(std::span(reinterpret_cast<const std::uint8_t*>(in.data()), in.size()));
  }
  /// The completed event, if any (then cleared); kind::none otherwise.
  event next();
  /// Bytes of the message being read so far (its fragments and the partial frame), plus an
  /// event's payload not yet taken: what this reader holds, for a caller's memory accounting.
  std::size_t buffered() const noexcept;
  /// After an error or close event: nothing more is read.
  bool finished() const noexcept;

 private:
  bool start_header();  // after the first 2 bytes: the rules they decide; sets header_need_
  bool end_header();    // the whole header: length, mask, the size limit
  bool take_payload(const std::uint8_t* p, std::size_t n);
  void end_frame();
  void fail(close_code code, const char* why);

  std::size_t max_message_;
  bool masked_;  // frames come masked (a server's reader); unmasked (a client's)
  std::uint8_t header_[14]{};
  std::size_t header_have_ = 0;
  std::size_t header_need_ = 2;
  bool in_header_ = true;
  bool fin_ = false;
  opcode op_ = opcode::text;
  std::uint64_t length_ = 0;  // this frame's payload
  std::uint64_t got_ = 0;     // of it so far
  std::uint8_t mask_[4]{};
  bool in_message_ = false;  // a fragmented message is open (its first frame had FIN clear)
  opcode message_op_ = opcode::text;
  std::string message_;          // the data frames' payloads so far, unmasked
  std::string control_;          // the control frame being read, unmasked
  std::uint8_t utf8_state_ = 0;  // the UTF-8 DFA's state over message_ (text only)
  event pending_;
  bool finished_ = false;
};

/// Appends one unmasked (server to client) frame with FIN set to `out`.
void append_frame(std::string& out, opcode op, std::string_view payload);
std::string encode_frame(opcode op, std::string_view payload);
/// Appends one masked (client to server) frame with FIN set: `mask` is the masking key as
/// it goes on the wire. RFC 6455 §5.3 wants a fresh, unpredictable key per frame (against
/// cache poisoning through intermediaries): that is the caller's to choose.
void append_masked_frame(std::string& out, opcode op, std::string_view payload,
                         std::span<const std::uint8_t, 4> mask);
/// A close frame's payload: the code (2 bytes, big-endian), then `reason` (UTF-8) cut to fit
/// 123 bytes at a UTF-8 character boundary.
std::string close_payload(close_code code, std::string_view reason = {});

/// Whether `s` is valid UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;

}  // namespace sockit::codec::websocket
