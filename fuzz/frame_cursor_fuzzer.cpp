// libFuzzer target for codec::frame_cursor, the buffer every frame reader reads through: the
// input is fed in random chunks (sizes from the input) into a cursor with a small buffer, as
// a reader would (write_area/commit), and what it hands out must equal codec::decoder's
// one-shot decode of the same bytes: format, headers, bodies, the error, and whether the
// stream ended between frames. Some bodies are left unread (the next header skips them).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "sockit/codec/frame.hpp"
#include "sockit/codec/frame_cursor.hpp"

namespace {

using namespace sockit::codec;

struct next_random {
  std::uint32_t seed;
  std::uint32_t operator()() {
    seed = seed * 1103515245u + 12345u;
    return seed >> 16;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size < 3) return 0;
  // First byte: small limits so they are hit often; second: more limits and the buffer
  // size; third: the chunking and skipping seed.
  limits lim;
  lim.max_header = 16u + (bytes[0] >> 1) * 8u;
  lim.max_depth = 1u + (bytes[1] & 7u);
  lim.max_body = 64u * (1u + ((bytes[1] >> 3) & 3u));
  const std::size_t buffer_size = 16u << (bytes[1] >> 5);  // 16 .. 2048
  next_random rnd{bytes[2] | 1u};
  std::string_view data = sockit_fuzz::as_text(bytes + 3, size - 3);

  // The oracle: detect_format on the opening, then the decoder on the rest at once.
  std::error_code oracle_ec;
  std::vector<frame> oracle;
  bool oracle_boundary = true;
  format oracle_fmt = format::native;
  if (data.size() >= 4) {
    oracle_fmt = detect_format(std::span<const char, 4>(data.data(), 4), lim, oracle_ec);
    if (!oracle_ec) {
      decoder d(lim, oracle_fmt);
      if (d.feed(data.substr(oracle_fmt == format::native ? 4 : 0), oracle, oracle_ec)) {
        oracle_boundary = d.at_frame_boundary();
      }
    }
  }

  frame_cursor c(lim, buffer_size);
  std::size_t at = 0;
  auto read = [&] {
    if (at == data.size()) return false;
    auto area = c.write_area();
    FUZZ_CHECK(!area.empty());
    std::size_t n = std::min<std::size_t>({area.size(), data.size() - at, 1 + rnd() % 23});
    std::memcpy(area.data(), data.data() + at, n);
    c.commit(n);
    at += n;
    return true;
  };
  format fmt{};
  for (frame_cursor::status st; (st = c.detect_format(fmt)) != frame_cursor::status::ready;) {
    if (st == frame_cursor::status::error) {
      FUZZ_CHECK(c.error() == oracle_ec);
      return 0;
    }
    if (!read()) {
      FUZZ_CHECK(data.size() < 4);
      return 0;
    }
  }
  FUZZ_CHECK(fmt == oracle_fmt);

  std::size_t count = 0;
  for (;;) {
    frame_header h;
    auto st = c.next_header(h);
    if (st == frame_cursor::status::need_more) {
      if (read()) continue;
      // All input consumed: the decoder saw the same frames and the same ending (the
      // cursor may have handed out the header of a frame whose unread body was cut off).
      FUZZ_CHECK(!oracle_ec);
      FUZZ_CHECK(c.at_frame_boundary() == oracle_boundary);
      FUZZ_CHECK(count == oracle.size() || (!oracle_boundary && count == oracle.size() + 1));
      return 0;
    }
    if (st == frame_cursor::status::error) {
      FUZZ_CHECK(c.error() == oracle_ec);
      FUZZ_CHECK(count == oracle.size());
      return 0;
    }
    // A header the decoder completed only if its body is complete too; when the cursor has
    // one more header than the decoder has frames, the stream ends inside it.
    const bool in_oracle = count < oracle.size();
    if (in_oracle) FUZZ_CHECK(h.fields == oracle[count].header.fields);
    FUZZ_CHECK(c.body_left() == (h.has_body ? h.body_size : 0));
    FUZZ_CHECK(c.body_left() <= lim.max_body);
    if (c.body_left() == 0) FUZZ_CHECK(in_oracle);  // a frame without a body is complete
    ++count;
    if (rnd() % 4 == 0) continue;  // leave this body unread
    std::string body;
    for (;;) {
      std::string_view piece;
      st = c.next_piece(piece);
      FUZZ_CHECK(st != frame_cursor::status::error);  // a body has no errors to find
      if (st == frame_cursor::status::ready && piece.empty()) break;
      if (st == frame_cursor::status::ready) {
        body.append(piece);
        continue;
      }
      if (!read()) {
        // The input ended inside this body: the decoder never completed this frame.
        FUZZ_CHECK(!in_oracle);
        FUZZ_CHECK(!c.at_frame_boundary());
        FUZZ_CHECK(!oracle_ec && !oracle_boundary);
        return 0;
      }
    }
    FUZZ_CHECK(in_oracle);
    FUZZ_CHECK(body == oracle[count - 1].body);
  }
}
