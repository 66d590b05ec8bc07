// libFuzzer target for the JSON header checks (codec::parse_header, native and classic):
// an accepted header is an object no deeper than the limit, its body size is exactly its
// "size" / "file_size" and within the limit, and its re-serialised text is accepted again
// with the same fields; the allocation-free depth scan agrees with the parsed depth.
#include <limits>
#include <string>

#include "fuzz_check.hpp"
#include "sockit/codec/frame.hpp"
#include "sockit/net/error.hpp"

namespace {

using sockit::codec::format;
using sockit::codec::frame_header;
using sockit::codec::json_depth;
using sockit::codec::limits;
using sockit::codec::parse_header;

// Nesting of objects and arrays in a parsed value, recursion bounded by the parser's limit.
std::uint32_t depth_of(const nlohmann::json& j) {
  if (!j.is_structured()) return 0;
  std::uint32_t deepest = 0;
  for (const auto& child : j) deepest = std::max(deepest, depth_of(child));
  return deepest + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // Byte 0: format and depth limit; byte 1: body limit (small, so both sides are hit).
  const format fmt = (data[0] & 1) ? format::classic : format::native;
  limits lim;
  lim.max_depth = 1u + ((data[0] >> 1) & 15u);
  lim.max_body = data[1] < 128 ? data[1] : (std::uint64_t{1} << (data[1] - 128) % 64);
  const std::string_view text = sockit_fuzz::as_text(data + 2, size - 2);

  const std::uint32_t full = json_depth(text, std::numeric_limits<std::uint32_t>::max());
  // Stopping early reports a depth above the stop, never a smaller one.
  const std::uint32_t stopped = json_depth(text, lim.max_depth);
  FUZZ_CHECK(full > lim.max_depth ? stopped > lim.max_depth && stopped <= full : stopped == full);

  std::error_code ec;
  const frame_header h = parse_header(text, lim, fmt, ec);
  if (ec) {
    FUZZ_CHECK(ec == sockit::errc::header_too_deep || ec == sockit::errc::bad_header ||
               ec == sockit::errc::body_too_large);
    FUZZ_CHECK((ec == sockit::errc::header_too_deep) == (full > lim.max_depth));
    FUZZ_CHECK(!h.has_body);
    return 0;
  }
  FUZZ_CHECK(full <= lim.max_depth);
  FUZZ_CHECK(h.fields.is_object());
  FUZZ_CHECK(depth_of(h.fields) == full);  // the scan measured what the parser built
  const char* key = fmt == format::native ? "size" : "file_size";
  auto it = h.fields.find(key);
  if (it == h.fields.end()) {
    FUZZ_CHECK(fmt == format::native && !h.has_body && h.body_size == 0);
  } else {
    FUZZ_CHECK(h.has_body && it->is_number_unsigned());
    FUZZ_CHECK(it->get<std::uint64_t>() == h.body_size && h.body_size <= lim.max_body);
  }
  if (h.fields.contains("op")) {
    FUZZ_CHECK(h.op() == (h.fields["op"].is_string() ? h.fields["op"].get<std::string>() : ""));
  }

  // What the parser accepted serialises to text it accepts again, with the same meaning.
  const std::string again = h.fields.dump();
  FUZZ_CHECK(json_depth(again, std::numeric_limits<std::uint32_t>::max()) == full);
  std::error_code ec2;
  const frame_header h2 = parse_header(again, lim, fmt, ec2);
  FUZZ_CHECK(!ec2);
  FUZZ_CHECK(h2.fields == h.fields);
  FUZZ_CHECK(h2.has_body == h.has_body && h2.body_size == h.body_size);
  FUZZ_CHECK(h2.fields.dump() == again);
  return 0;
}
