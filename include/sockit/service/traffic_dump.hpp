// traffic_dump: the text of `-x/--hexdump` and `-o/--output` (ncat's -x and -o, socat's
// -x -v), one record per chunk that crossed a connection: a header with the direction,
// the time, who, the chunk's offset in that direction and its length, then its bytes as a
// hex dump (hexdump -C's layout) or as escaped text. Formatting only: the apps write it.
// The format is documented in the README ("Hex dump and session log"). No Asio.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sockit::service {

enum class dump_style { hex, text };

/// `sent` is '>' (from this side to the peer, or client -> target in forward), else '<'.
struct dump_chunk {
  bool sent = true;
  std::string_view who;      // the peer: tcp://127.0.0.1:5555 (escaped by the formatter)
  std::uint64_t offset = 0;  // bytes this direction had carried before this chunk
  std::span<const std::byte> data;
  std::chrono::system_clock::time_point when;
};

/// "> 2026-12-04T04:10:00.464123Z tcp://127.0.0.1:5555 offset 0 length 6\n", then:
/// hex: lines of 16 bytes, "00000000  48 65 6c 6c 6f 0a ... |Hello.|", the offset of each
///      line counted in the direction (chunk offset + position);
/// text: the bytes with printable ASCII, newline and tab as they are, a backslash doubled
///      and every other byte as \xNN, ended with a newline if the chunk did not end with
///      one (the header's length is the exact count).
/// Either way the record holds no control byte but newline (and tab in text): safe on a
/// terminal whatever the peer sent.
std::string format_dump(const dump_chunk& chunk, dump_style style);

}  // namespace sockit::service
