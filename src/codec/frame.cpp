// Frame encoding, header validation and the incremental parser behind every reader.
#include "sockit/codec/frame.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "sockit/net/error.hpp"

namespace sockit::codec {

std::string_view frame_header::op() const noexcept {
  auto it = fields.find("op");
  if (it == fields.end() || !it->is_string()) return {};
  return it->get_ref<const std::string&>();
}

std::uint32_t json_depth(std::string_view text, std::uint32_t stop_above) noexcept {
  std::uint32_t depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // skip the escaped character; \uXXXX digits are harmless
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > stop_above) return deepest;
        }
        break;
      case '}':
      case ']':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

frame_header parse_header(std::string_view text, const limits& lim, format fmt,
                          std::error_code& ec) {
  frame_header h;
  ec.clear();
  if (json_depth(text, lim.max_depth) > lim.max_depth) {
    ec = errc::header_too_deep;
    return h;
  }
  // nlohmann's lexer takes a NUL byte for the end of the input and ignores what follows, so
  // `{}\0anything` would parse as `{}`; a raw NUL is never valid JSON text (found by the
  // header fuzzer: the depth scan and the parser disagreed about what the header was).
  const bool has_nul = text.find('\0') != std::string_view::npos;
  if (!has_nul) h.fields = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (has_nul || h.fields.is_discarded() || !h.fields.is_object()) {
    ec = errc::bad_header;
    h.fields = nlohmann::json::object();
    return h;
  }
  const char* size_key = fmt == format::native ? "size" : "file_size";
  auto it = h.fields.find(size_key);
  if (it == h.fields.end()) {
    if (fmt == format::classic) ec = errc::bad_header;  // the seeds' head always has it
    return h;
  }
  if (!it->is_number_unsigned()) {
    // Negative, fractional, huge or textual sizes are all malformed, never "zero".
    ec = errc::bad_header;
    return h;
  }
  std::uint64_t size = it->get<std::uint64_t>();
  if (size > lim.max_body) {
    ec = errc::body_too_large;
    return h;
  }
  h.has_body = true;
  h.body_size = size;
  return h;
}

namespace {

void put_be32(char* p, std::uint32_t v) noexcept {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

std::uint32_t get_be32(const char* p) noexcept {
  auto b = [p](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

std::int32_t get_le32(const char* p) noexcept {
  auto b = [p](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])); };
  return static_cast<std::int32_t>(b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24);
}

void check_header_length(std::size_t n) {
  if (n > std::numeric_limits<std::uint32_t>::max()) {
    throw std::length_error("frame header longer than 4 GiB - 1");
  }
}

}  // namespace

void append_frame(std::string& out, std::string_view header_json, std::string_view body) {
  check_header_length(header_json.size());
  std::size_t at = out.size();
  out.resize(at + 4);
  put_be32(out.data() + at, static_cast<std::uint32_t>(header_json.size()));
  out.append(header_json);
  out.append(body);
}

void append_frame(std::string& out, const nlohmann::json& header, std::string_view body) {
  // No body given: the header goes as it is (a "size" in it announces bytes sent later).
  auto it = header.find("size");
  if (body.empty() ||
      (it != header.end() && it->is_number_unsigned() && it->get<std::uint64_t>() == body.size())) {
    append_frame(out, std::string_view(header.dump()), body);
    return;
  }
  nlohmann::json copy = header;
  copy["size"] = body.size();
  append_frame(out, std::string_view(copy.dump()), body);
}

std::string encode(const nlohmann::json& header) {
  std::string out;
  append_frame(out, std::string_view(header.dump()), {});
  return out;
}

std::string encode(nlohmann::json header, std::string_view body) {
  header["size"] = body.size();
  std::string out;
  append_frame(out, std::string_view(header.dump()), body);
  return out;
}

std::string encode_classic_head(const nlohmann::json& head) {
  std::string text = head.dump();
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw std::length_error("classic head longer than 2 GiB - 1");
  }
  auto n = static_cast<std::uint32_t>(text.size());
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>(n >> (8 * i));
  out += text;
  return out;
}

format detect_format(std::span<const char, 4> first, const limits& lim, std::error_code& ec) {
  ec.clear();
  if (std::equal(first.begin(), first.end(), magic.begin())) return format::native;
  std::int32_t n = get_le32(first.data());
  if (n > 0 && static_cast<std::uint32_t>(n) <= lim.max_header) return format::classic;
  ec = errc::bad_magic;
  return format::native;
}

parser::parser(limits lim, format fmt) : lim_(lim), fmt_(fmt) {}

parser::event parser::fail(std::error_code ec) {
  ec_ = ec;
  state_ = state::failed;
  header_buf_.clear();
  header_buf_.shrink_to_fit();
  return event::error;
}

parser::event parser::finish_header(std::string_view text) {
  std::error_code ec;
  header_ = parse_header(text, lim_, fmt_, ec);
  header_buf_.clear();
  if (ec) return fail(ec);
  remaining_ = header_.has_body ? header_.body_size : 0;
  state_ = remaining_ > 0 ? state::body : state::end;
  return event::header;
}

void parser::skip_body(std::uint64_t n) noexcept {
  if (state_ != state::body) return;
  remaining_ -= std::min(n, remaining_);
  if (remaining_ == 0) state_ = state::end;
}

parser::event parser::next(std::string_view& in) {
  for (;;) {
    switch (state_) {
      case state::failed:
        return event::error;
      case state::end:
        state_ = state::length;
        have_ = 0;
        return event::frame_end;
      case state::length: {
        if (in.empty()) return event::need_more;
        const char* len_bytes;
        if (have_ == 0 && in.size() >= 4) {
          len_bytes = in.data();  // fast path: the prefix is whole in this chunk
          in.remove_prefix(4);
        } else {
          std::size_t take = std::min<std::size_t>(4 - have_, in.size());
          std::memcpy(len_buf_.data() + have_, in.data(), take);
          have_ += static_cast<std::uint32_t>(take);
          in.remove_prefix(take);
          if (have_ < 4) return event::need_more;
          len_bytes = len_buf_.data();
        }
        have_ = 4;
        std::uint64_t n;
        if (fmt_ == format::native) {
          n = get_be32(len_bytes);
        } else {
          std::int32_t s = get_le32(len_bytes);
          if (s < 0) return fail(errc::frame_too_large);
          n = static_cast<std::uint64_t>(s);
        }
        // Checked before a single byte is reserved for the header.
        if (n > lim_.max_header) return fail(errc::frame_too_large);
        if (n == 0) return fail(errc::bad_header);
        header_len_ = static_cast<std::uint32_t>(n);
        state_ = state::header;
        break;
      }
      case state::header: {
        if (header_buf_.empty() && in.size() >= header_len_) {
          std::string_view text = in.substr(0, header_len_);
          in.remove_prefix(header_len_);
          return finish_header(text);
        }
        if (in.empty()) return event::need_more;
        if (header_buf_.capacity() < header_len_) header_buf_.reserve(header_len_);
        std::size_t take = std::min<std::size_t>(header_len_ - header_buf_.size(), in.size());
        header_buf_.append(in.data(), take);
        in.remove_prefix(take);
        if (header_buf_.size() < header_len_) return event::need_more;
        std::string text = std::move(header_buf_);
        header_buf_ = std::string();
        return finish_header(text);
      }
      case state::body: {
        if (in.empty()) return event::need_more;
        std::size_t take = static_cast<std::size_t>(
            std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(in.size())));
        piece_ = in.substr(0, take);
        in.remove_prefix(take);
        remaining_ -= take;
        if (remaining_ == 0) state_ = state::end;
        return event::body;
      }
    }
  }
}

bool decoder::feed(std::string_view chunk, std::vector<frame>& out, std::error_code& ec) {
  for (;;) {
    switch (parser_.next(chunk)) {
      case parser::event::need_more:
        return true;
      case parser::event::header:
        current_.header = std::move(parser_.header());
        current_.body.clear();
        // Bounded by max_body, which parse_header has already checked.
        if (current_.header.has_body) {
          current_.body.reserve(static_cast<std::size_t>(current_.header.body_size));
        }
        break;
      case parser::event::body:
        current_.body.append(parser_.body_piece());
        break;
      case parser::event::frame_end:
        out.push_back(std::move(current_));
        current_ = frame{};
        break;
      case parser::event::error:
        ec = parser_.error();
        return false;
    }
  }
}

}  // namespace sockit::codec
