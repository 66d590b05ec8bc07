// libFuzzer target for the seeds' classic stream (i32 little-endian length, JSON head with
// "file_name" and "file_size", then the file bytes), as the server reads it: format
// detection, the framing, the head checks and the name a file would be stored under.
// Every frame's body is exactly file_size bytes, re-encoding a head gives the same head
// back, and a name that is accepted is one safe component.
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "sockit/codec/frame.hpp"
#include "sockit/net/error.hpp"
#include "sockit/service/transfer_error.hpp"
#include "sockit/service/transfer_names.hpp"

namespace {

using sockit::codec::decoder;
using sockit::codec::detect_format;
using sockit::codec::format;
using sockit::codec::frame;
using sockit::codec::limits;

std::vector<frame> decode_classic(std::string_view bytes, const limits& lim, std::error_code& ec) {
  std::vector<frame> frames;
  decoder d(lim, format::classic);
  d.feed(bytes, frames, ec);
  return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  limits lim;
  lim.max_header = 8u + (data[0] & 0x7fu) * 8u;
  lim.max_body = 1024;
  const std::string_view stream = sockit_fuzz::as_text(data + 1, size - 1);

  if (stream.size() >= 4) {
    std::error_code ec;
    const format f = detect_format(std::span<const char, 4>(stream.data(), 4), lim, ec);
    const auto le = static_cast<std::int32_t>(
        static_cast<std::uint32_t>(static_cast<unsigned char>(stream[0])) |
        static_cast<std::uint32_t>(static_cast<unsigned char>(stream[1])) << 8 |
        static_cast<std::uint32_t>(static_cast<unsigned char>(stream[2])) << 16 |
        static_cast<std::uint32_t>(static_cast<unsigned char>(stream[3])) << 24);
    const bool magic = stream.substr(0, 4) == std::string_view(sockit::codec::magic.data(), 4);
    if (magic) {
      FUZZ_CHECK(!ec && f == format::native);
    } else if (le > 0 && static_cast<std::uint32_t>(le) <= lim.max_header) {
      FUZZ_CHECK(!ec && f == format::classic);
    } else {
      FUZZ_CHECK(ec == sockit::errc::bad_magic);
    }
  }

  std::error_code ec;
  const std::vector<frame> frames = decode_classic(stream, lim, ec);
  for (const frame& f : frames) {
    FUZZ_CHECK(f.header.has_body);
    auto size_it = f.header.fields.find("file_size");
    FUZZ_CHECK(size_it != f.header.fields.end() && size_it->is_number_unsigned());
    FUZZ_CHECK(size_it->get<std::uint64_t>() == f.body.size());
    FUZZ_CHECK(f.body.size() == f.header.body_size && f.body.size() <= lim.max_body);

    // The name the server stores the file under.
    auto name_it = f.header.fields.find("file_name");
    if (name_it != f.header.fields.end() && name_it->is_string()) {
      const std::string& shown = name_it->get_ref<const std::string&>();
      std::error_code nec;
      const std::string base = sockit::service::classic_safe_name(shown, nec);
      if (!nec) {
        FUZZ_CHECK(sockit::service::is_safe_component(base));
        FUZZ_CHECK(base.find_first_of("/\\") == std::string::npos && base != ".." && !base.empty());
        FUZZ_CHECK(shown.ends_with(base));
      } else {
        FUZZ_CHECK(nec == sockit::service::transfer_errc::unsafe_name && base.empty());
      }
    }

    // The client's encoder gives a head the server's reader takes back unchanged.
    const std::string head = sockit::codec::encode_classic_head(f.header.fields);
    limits roomy = lim;
    roomy.max_header = 1u << 20;
    std::error_code rec;
    const std::vector<frame> back = decode_classic(head + f.body, roomy, rec);
    FUZZ_CHECK(!rec && back.size() == 1);
    FUZZ_CHECK(back[0].header.fields == f.header.fields && back[0].body == f.body);
    std::error_code dec;
    FUZZ_CHECK(detect_format(std::span<const char, 4>(head.data(), 4), roomy, dec) ==
                   format::classic &&
               !dec);
  }
  if (!ec) {
    // Whatever was left is the start of a frame that has not fully arrived.
    FUZZ_CHECK(frames.size() <= stream.size() / 5);
  }
  return 0;
}
