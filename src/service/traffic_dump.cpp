// traffic_dump: hexdump -C's layout (offset, two groups of eight, the printable column)
// because every reader of hex dumps already knows it; socat -v's "> time length" header so
// both directions interleave readably in one file.
#include "sockit/service/traffic_dump.hpp"

#include <ctime>

#include "sockit/net/terminal_text.hpp"

namespace sockit::service {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void put_hex(std::string& out, std::uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; --i) out += hex_digits[(v >> (4 * i)) & 0xf];
}

bool printable(unsigned char c) { return c >= 0x20 && c < 0x7f; }

std::string utc_time(std::chrono::system_clock::time_point t) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch());
  const std::time_t secs = static_cast<std::time_t>(us.count() / 1000000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us.count() % 1000000));
  return buf;
}

void hex_body(std::string& out, const dump_chunk& c) {
  const auto* p = reinterpret_cast<const unsigned char*>(c.data.data());
  for (std::size_t line = 0; line < c.data.size(); line += 16) {
    put_hex(out, c.offset + line, 8);
    out += "  ";
    for (std::size_t i = 0; i < 16; ++i) {
      if (line + i < c.data.size()) {
        out += hex_digits[p[line + i] >> 4];
        out += hex_digits[p[line + i] & 0xf];
        out += ' ';
      } else {
        out += "   ";
      }
      if (i == 7) out += ' ';
    }
    out += " |";
    for (std::size_t i = line; i < line + 16 && i < c.data.size(); ++i)
      out += printable(p[i]) ? static_cast<char>(p[i]) : '.';
    out += "|\n";
  }
}

void text_body(std::string& out, const dump_chunk& c) {
  const auto* p = reinterpret_cast<const unsigned char*>(c.data.data());
  for (std::size_t i = 0; i < c.data.size(); ++i) {
    const unsigned char b = p[i];
    const bool line_start = i == 0 || p[i - 1] == '\n';
    if (line_start && (b == '>' || b == '<')) {
      // A body line that began like a header could pass for a record of its own.
      out += b == '>' ? "\\x3e" : "\\x3c";
    } else if (b == '\\') {
      out += "\\\\";
    } else if (printable(b) || b == '\n' || b == '\t') {
      out += static_cast<char>(b);
    } else {
      out += "\\x";
      out += hex_digits[b >> 4];
      out += hex_digits[b & 0xf];
    }
  }
  if (out.empty() || out.back() != '\n') out += '\n';
}

}  // namespace

std::string format_dump(const dump_chunk& c, dump_style style) {
  std::string out;
  out.reserve(64 + c.data.size() * (style == dump_style::hex ? 5 : 1));
  out += c.sent ? "> " : "< ";
  out += utc_time(c.when);
  out += ' ';
  out += net::escape_terminal_text(c.who);
  out += " offset " + std::to_string(c.offset) + " length " + std::to_string(c.data.size()) + "\n";
  if (style == dump_style::hex) {
    hex_body(out, c);
  } else {
    text_body(out, c);
  }
  return out;
}

}  // namespace sockit::service
