// Output helpers.
#include "output.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <cstdlib>
#include <mutex>

namespace sockit::cli {
namespace {
std::mutex out_mu;
}

void print_listening(const net::endpoint& bound, bool json, std::FILE* to) {
  if (json) {
    std::string line =
        nlohmann::json{{"event", "listening"}, {"endpoint", bound.to_string()}}.dump();
    print_line(line, to);
  } else {
    print_line("listening on " + bound.to_string(), to);
  }
}

void print_json(const nlohmann::json& object) {
  print_line(object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void print_line(std::string_view text, std::FILE* to) {
  std::lock_guard lock(out_mu);
  std::fwrite(text.data(), 1, text.size(), to);
  std::fputc('\n', to);
  std::fflush(to);
}

std::string escape_for_terminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [&](unsigned char c) { out += fmt::format("\\x{:02x}", c); };
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      if (c == '\\') out += '\\';
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c < 0x80 || c == 0x7f) {
      hex(c);
      ++i;
      continue;
    }
    // Multi-byte UTF-8: copy a well-formed sequence (no C1 controls), escape anything else.
    std::size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    bool ok = len != 0 && i + len <= text.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    }
    if (ok && len == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0) ok = false;
    if (ok) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      hex(c);
      ++i;
    }
  }
  return out;
}

bool use_color(std::FILE* f) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && *no_color != '\0') return false;
  return ::isatty(fileno(f)) != 0;
}

std::string human_count(double v) {
  if (v >= 1e9) return fmt::format("{:.2f} G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f} M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f} k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

std::string human_duration_ns(double ns) {
  if (ns >= 1e9) return fmt::format("{:.2f} s", ns / 1e9);
  if (ns >= 1e6) return fmt::format("{:.2f} ms", ns / 1e6);
  if (ns >= 1e3) return fmt::format("{:.1f} µs", ns / 1e3);
  return fmt::format("{:.0f} ns", ns);
}

}  // namespace sockit::cli
