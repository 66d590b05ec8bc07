// Output helpers.
#include "output.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <cstdlib>
#include <mutex>

#include "sockit/net/terminal_text.hpp"

namespace sockit::cli {
namespace {
std::mutex out_mu;
}

void print_listening(const net::endpoint& bound, bool json, std::FILE* to,
                     const std::string& identity, const std::string& web) {
  if (json) {
    nlohmann::json j{{"event", "listening"}, {"endpoint", bound.to_string()}};
    if (!identity.empty()) {
      j["tls"] = true;
      j["identity"] = identity;
    }
    if (!web.empty()) j["web"] = web;
    print_line(j.dump(), to);
    return;
  }
  std::string extra;
  if (!identity.empty()) extra = "TLS, identity " + identity;
  if (!web.empty()) extra += (extra.empty() ? "" : ", ") + std::string("web page ") + web;
  print_line("listening on " + bound.to_string() + (extra.empty() ? "" : " (" + extra + ")"), to);
}

void print_json(const nlohmann::json& object) {
  // ASCII only: JSON already escapes C0 controls, and \uNNNN keeps C1, bidi and zero-width
  // characters from a peer inert on a terminal as well, while a parser gets them back.
  print_line(object.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace));
}

void print_line(std::string_view text, std::FILE* to) {
  std::lock_guard lock(out_mu);
  std::fwrite(text.data(), 1, text.size(), to);
  std::fputc('\n', to);
  std::fflush(to);
}

std::string escape_for_terminal(std::string_view text) { return net::escape_terminal_text(text); }

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
