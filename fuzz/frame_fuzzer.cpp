// libFuzzer target for the frame decoder: the input is split into random chunks (sizes
// taken from the input itself) and the frames must equal a one-shot decode of the same
// bytes, error included. Also checks that encoding the decoded frames gives the bytes back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sockit/codec/frame.hpp"

namespace {

using sockit::codec::decoder;
using sockit::codec::format;
using sockit::codec::frame;
using sockit::codec::limits;

struct outcome {
  std::vector<frame> frames;
  std::error_code ec;
  bool boundary = true;
};

outcome decode(std::string_view data, const std::vector<std::size_t>& cuts, limits lim,
               format fmt) {
  outcome o;
  decoder d(lim, fmt);
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    std::size_t n = std::min(cut, data.size() - at);
    if (!d.feed(data.substr(at, n), o.frames, o.ec)) return o;
    at += n;
  }
  if (!d.feed(data.substr(at), o.frames, o.ec)) return o;
  o.boundary = d.at_frame_boundary();
  return o;
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size < 3) return 0;
  // First byte: format and small limits so they are hit often; second: chunking seed.
  format fmt = (bytes[0] & 1) ? format::classic : format::native;
  limits lim;
  lim.max_header = 16u + (bytes[0] >> 1) * 8u;
  lim.max_depth = 1u + (bytes[1] & 7u);
  lim.max_body = 64u * (1u + (bytes[1] >> 3));
  std::uint32_t seed = bytes[2] | 1u;
  std::string_view data(reinterpret_cast<const char*>(bytes + 3), size - 3);

  outcome whole = decode(data, {}, lim, fmt);
  std::vector<std::size_t> cuts;
  for (std::size_t total = 0; total < data.size();) {
    seed = seed * 1103515245u + 12345u;
    std::size_t n = (seed >> 16) % 17;  // includes empty chunks
    cuts.push_back(n);
    total += n;
  }
  outcome pieces = decode(data, cuts, lim, fmt);
  check(whole.ec == pieces.ec);
  check(whole.boundary == pieces.boundary);
  check(whole.frames.size() == pieces.frames.size());
  for (std::size_t i = 0; i < whole.frames.size(); ++i) {
    check(whole.frames[i].header.fields == pieces.frames[i].header.fields);
    check(whole.frames[i].body == pieces.frames[i].body);
    check(whole.frames[i].body.size() <= lim.max_body);
    if (fmt == format::native) {
      // Re-encoding and decoding a frame gives the same frame back.
      std::string again;
      sockit::codec::append_frame(again, whole.frames[i].header.fields, whole.frames[i].body);
      limits big;
      big.max_header = 1u << 20;
      big.max_body = lim.max_body;
      big.max_depth = lim.max_depth;
      outcome round = decode(again, {}, big, fmt);
      check(!round.ec && round.frames.size() == 1);
      check(round.frames[0].body == whole.frames[i].body);
    }
  }
  return 0;
}
