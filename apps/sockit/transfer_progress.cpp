// transfer_printer: the only place put/get output is formatted.
#include "transfer_progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "output.hpp"

namespace sockit::cli {

std::string human_bytes(double bytes) { return human_count(bytes) + "B"; }

transfer_printer::transfer_printer(std::string verb, bool json)
    : verb_(std::move(verb)), json_(json), tty_(::isatty(STDERR_FILENO) != 0) {}

void transfer_printer::progress(const service::transfer_progress& p) {
  if (!json_ && !tty_) return;
  auto now = std::chrono::steady_clock::now();
  bool last = p.total != UINT64_MAX && p.done >= p.total;
  std::lock_guard lock(mu_);
  if (!last && now - last_ < std::chrono::milliseconds(100)) return;  // at most 10 per second
  last_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  if (json_) {
    nlohmann::json j{{"event", "progress"},
                     {"name", p.name},
                     {"bytes", p.done},
                     {"file", p.index + 1},
                     {"files", p.count}};
    if (p.total != UINT64_MAX) j["total"] = p.total;
    print_json(j);
    return;
  }
  double rate = elapsed > 0 ? static_cast<double>(p.done) / elapsed : 0;
  std::string line;
  if (p.total != UINT64_MAX && p.total > 0) {
    double frac = static_cast<double>(p.done) / static_cast<double>(p.total);
    int filled = static_cast<int>(frac * 20);
    double eta = rate > 0 ? static_cast<double>(p.total - p.done) / rate : 0;
    line = fmt::format("{} [{}{}] {:3.0f}% {} {}/s ETA {:.0f}s", escape_for_terminal(p.name),
                       std::string(static_cast<std::size_t>(filled), '#'),
                       std::string(static_cast<std::size_t>(20 - filled), '.'), frac * 100,
                       human_bytes(static_cast<double>(p.done)), human_bytes(rate), eta);
  } else {
    line = fmt::format("{} {} {}/s", escape_for_terminal(p.name),
                       human_bytes(static_cast<double>(p.done)), human_bytes(rate));
  }
  if (p.count > 1) line = fmt::format("({}/{}) ", p.index + 1, p.count) + line;
  fmt::print(stderr, "\r\x1b[2K{}", line);
  std::fflush(stderr);
  bar_shown_ = true;
}

void transfer_printer::note(const std::string& text) {
  std::lock_guard lock(mu_);
  if (json_) {
    print_json({{"event", "note"}, {"message", text}});
  } else {
    print_line(text, stderr);
  }
}

int transfer_printer::finish(const std::vector<service::file_result>& results, double seconds) {
  std::lock_guard lock(mu_);
  if (bar_shown_) {
    fmt::print(stderr, "\r\x1b[2K");
    std::fflush(stderr);
  }
  std::uint64_t bytes = 0;
  std::size_t failed = 0, files = 0;
  for (const auto& r : results) {
    bytes += r.bytes;
    if (!r.ok()) ++failed;
    if (!r.directory) ++files;
    if (json_) {
      nlohmann::json j{{"event", "file"},  {"name", r.name},           {"ok", r.ok()},
                       {"bytes", r.bytes}, {"file_size", r.file_size}, {"seconds", r.seconds}};
      if (r.directory) j["directory"] = true;
      if (!r.hash.empty()) j["hash"] = r.hash;
      if (r.resumed_from) j["resumed_from"] = r.resumed_from;
      if (r.restarted) j["restarted"] = true;
      if (!r.ok()) {
        j["code"] = r.code;
        j["message"] = r.message;
      }
      print_json(j);
      continue;
    }
    if (r.directory && r.ok()) continue;  // directories are implied by their files
    std::string name = escape_for_terminal(r.name);
    if (!r.ok()) {
      print_line(fmt::format("failed {}: {}{}", name, r.code,
                             r.message.empty() ? "" : " (" + escape_for_terminal(r.message) + ")"),
                 stderr);
      continue;
    }
    std::string extra;
    if (r.resumed_from) extra = fmt::format(", resumed at {}", r.resumed_from);
    if (r.restarted) extra += ", partial did not match: started over";
    double rate = r.seconds > 0 ? static_cast<double>(r.bytes) / r.seconds : 0;
    print_line(fmt::format("{} {} ({} bytes, {}/s, hash {}{})", verb_, name, r.file_size,
                           human_bytes(rate), r.hash, extra));
  }
  if (json_) {
    print_json({{"event", "result"},
                {"ok", failed == 0},
                {"files", files},
                {"failed", failed},
                {"bytes", bytes},
                {"seconds", seconds}});
  } else if (results.size() > 1) {
    print_line(fmt::format("{} files, {} failed, {} in {:.2f} s", files, failed,
                           human_bytes(static_cast<double>(bytes)), seconds),
               stderr);
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace sockit::cli
