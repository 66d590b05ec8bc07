// Frames on the wire with no I/O: `u32 big-endian header length | JSON object | body`
// (native) and the seeds' classic `i32 little-endian length | JSON head | file bytes`.
// docs/PROTOCOL.md is the specification; this file must match it.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sockit::codec {

/// The 4 bytes a native client sends first. As a classic little-endian length it would be
/// 0x544B5389 (1.4 GB), far above any header limit, so the two formats never collide.
inline constexpr std::array<char, 4> magic = {'\x89', 'S', 'K', 'T'};
inline constexpr int protocol_version = 1;
inline constexpr std::size_t length_prefix_size = 4;

enum class format : std::uint8_t {
  native,   // u32 big-endian header length; body present iff header has "size"
  classic,  // i32 little-endian header length; body is always header.file_size bytes
};

/// What a receiver accepts. Every check happens before anything is allocated for it.
struct limits {
  std::uint32_t max_header = 64 * 1024;  // bytes of JSON header
  std::uint32_t max_depth = 16;          // nesting of JSON objects/arrays in a header
  std::uint64_t max_body = 16ull << 20;  // bytes of one frame's body
};

struct frame_header {
  nlohmann::json fields;  // always a JSON object
  bool has_body = false;  // native: "size" present; classic: always
  std::uint64_t body_size = 0;
  /// "op" as a string, or empty when missing / not a string.
  std::string_view op() const noexcept;
};

struct frame {
  frame_header header;
  std::string body;
};

/// Parses and validates one header's JSON text: nesting depth (checked by a scan before
/// the parser allocates), object-ness, and the body size ("size" / classic "file_size":
/// a non-negative integer not above `lim.max_body`). Errors: errc::header_too_deep,
/// errc::bad_header, errc::body_too_large.
frame_header parse_header(std::string_view json_text, const limits& lim, format fmt,
                          std::error_code& ec);

/// Deepest nesting of objects/arrays in `json_text`, scanning at most until `stop_above` is
/// exceeded (strings and escapes are skipped properly). No allocation.
std::uint32_t json_depth(std::string_view json_text, std::uint32_t stop_above) noexcept;

/// Native frame: length prefix + header. If `header` has "size", the caller sends exactly
/// that many body bytes next. Throws std::length_error when the header exceeds 4 GiB - 1.
std::string encode(const nlohmann::json& header);
/// Native frame with its body: sets header["size"] = body.size() and appends the body.
std::string encode(nlohmann::json header, std::string_view body);
/// Appends a native frame to `out`; when `body` is not empty, "size" is set to its length.
/// With no body the header is sent as it is (its "size", if any, announces bytes sent later).
void append_frame(std::string& out, const nlohmann::json& header, std::string_view body = {});
/// Appends a native frame from header text that is already serialised (the caller makes
/// sure it is a JSON object whose "size" matches `body`); for hot loops.
void append_frame(std::string& out, std::string_view header_json, std::string_view body);
/// Classic head (i32 little-endian length + JSON); the file bytes follow separately.
std::string encode_classic_head(const nlohmann::json& head);

/// Which format a connection speaks, from its first 4 bytes: the magic means native; a
/// little-endian length in 1..max_header means classic; anything else is errc::bad_magic.
format detect_format(std::span<const char, 4> first, const limits& lim, std::error_code& ec);

/// Push parser: feed it any chunking of the stream; it reports headers, body pieces (views
/// into the caller's input, never copied) and frame ends. Memory is bounded by max_header.
/// Not thread-safe; one per connection.
class parser {
 public:
  enum class event : std::uint8_t {
    need_more,  // all of the input was consumed; call again with more
    header,     // header() is valid; body pieces (if any) follow
    body,       // body_piece() is the next piece of the current body
    frame_end,  // the current frame is complete (right after header when it has no body)
    error,      // error() says why; the parser stays in error (the stream is unusable)
  };

  explicit parser(limits lim = {}, format fmt = format::native);

  /// Consumes a prefix of `in` (advancing it) and returns the next event.
  event next(std::string_view& in);

  const frame_header& header() const noexcept { return header_; }
  frame_header& header() noexcept { return header_; }
  std::string_view body_piece() const noexcept { return piece_; }
  /// Body bytes of the current frame not yet reported.
  std::uint64_t body_remaining() const noexcept { return remaining_; }
  std::error_code error() const noexcept { return ec_; }
  /// True between frames (nothing of a next frame consumed yet).
  bool at_frame_boundary() const noexcept { return state_ == state::length && have_ == 0; }
  const limits& limit() const noexcept { return lim_; }
  format wire_format() const noexcept { return fmt_; }

  /// Lets a caller that reads body bytes itself (e.g. straight into a file) report them.
  void skip_body(std::uint64_t n) noexcept;

 private:
  enum class state : std::uint8_t { length, header, body, end, failed };
  event fail(std::error_code ec);
  event finish_header(std::string_view text);

  limits lim_;
  format fmt_;
  state state_ = state::length;
  std::array<char, 4> len_buf_{};
  std::uint32_t have_ = 0;  // bytes of length prefix collected
  std::uint32_t header_len_ = 0;
  std::string header_buf_;  // only when a header straddles chunks
  std::uint64_t remaining_ = 0;
  frame_header header_;
  std::string_view piece_;
  std::error_code ec_;
};

/// Whole frames from arbitrary chunks (bodies buffered, so keep max_body modest).
class decoder {
 public:
  explicit decoder(limits lim = {}, format fmt = format::native) : parser_(lim, fmt) {}
  /// Appends every frame completed by `chunk` to `out`. Returns false on error (sticky).
  bool feed(std::string_view chunk, std::vector<frame>& out, std::error_code& ec);
  bool at_frame_boundary() const noexcept { return parser_.at_frame_boundary(); }

 private:
  parser parser_;
  frame current_;
};

}  // namespace sockit::codec
