// service::traffic_dump: the header, hexdump -C's layout with the direction's offsets, and
// the text form's escapes; nothing a peer sends reaches the record as a control byte.
#include "sockit/service/traffic_dump.hpp"

#include <gtest/gtest.h>

using namespace sockit::service;

namespace {

dump_chunk chunk(std::string_view bytes, bool sent = true, std::uint64_t offset = 0) {
  dump_chunk c;
  c.sent = sent;
  c.who = "tcp://127.0.0.1:5555";
  c.offset = offset;
  c.data = {reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()};
  c.when = std::chrono::system_clock::time_point(std::chrono::microseconds(1796356958870200));
  return c;
}

}  // namespace

TEST(TrafficDump, Header) {
  const std::string d = format_dump(chunk("hi", false, 42), dump_style::text);
  EXPECT_EQ(d, "< 2026-12-04T04:02:38.870200Z tcp://127.0.0.1:5555 offset 42 length 2\nhi\n");
}

TEST(TrafficDump, HexLayoutAndOffsets) {
  const std::string d = format_dump(chunk("Hello, world!\n\x01\xff"
                                          "abc",
                                          true, 0x20),
                                    dump_style::hex);
  const std::string body = d.substr(d.find('\n') + 1);
  EXPECT_EQ(body,
            "00000020  48 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 0a 01 ff  |Hello, world!...|\n"
            "00000030  61 62 63                                          |abc|\n");
}

TEST(TrafficDump, TextEscapes) {
  const std::string d = format_dump(chunk("a\\b\x1b[2J\tz\r\n"), dump_style::text);
  EXPECT_EQ(d.substr(d.find('\n') + 1), "a\\\\b\\x1b[2J\tz\\x0d\n");
}

TEST(TrafficDump, ABodyLineCannotPassForAHeader) {
  const std::string d = format_dump(
      chunk("ok\n> 2099-01-01T00:00:00.000000Z x offset 0 length 3\n<x"), dump_style::text);
  EXPECT_EQ(d.substr(d.find('\n') + 1),
            "ok\n\\x3e 2099-01-01T00:00:00.000000Z x offset 0 length 3\n\\x3cx\n");
}

TEST(TrafficDump, NoControlBytesWhateverThePeerSends) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (auto style : {dump_style::hex, dump_style::text}) {
    auto c = chunk(all);
    const std::string who = "x\x1b]0;evil\x07";
    c.who = who;
    for (unsigned char ch : format_dump(c, style))
      EXPECT_TRUE(ch == '\n' || ch == '\t' || (ch >= 0x20 && ch != 0x7f)) << int(ch);
  }
}
