// transfer_printer: the only place put/get output is formatted.
#include "transfer_progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "output.hpp"

namespace sockit::cli {

std::string human_bytes(double bytes) { return human_count(bytes) + "B"; }

transfer_printer::transfer_printer(std::string verb, bool json)
    : verb_(std::move(verb)), json_(json), tty_(::isatty(STDERR_FILENO) != 0) {}

namespace {

std::string eta_text(double seconds) {
  if (seconds >= 3600)
    return fmt::format("{:.0f}h{:02.0f}m", seconds / 3600, std::fmod(seconds / 60, 60));
  if (seconds >= 60)
    return fmt::format("{:.0f}m{:02.0f}s", std::floor(seconds / 60), std::fmod(seconds, 60));
  return fmt::format("{:.0f}s", seconds);
}

// "[#####...............]  25%" for done of total.
std::string bar(std::uint64_t done, std::uint64_t total) {
  double frac = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  frac = std::min(frac, 1.0);
  int filled = static_cast<int>(frac * 20);
  return fmt::format("[{}{}] {:3.0f}%", std::string(static_cast<std::size_t>(filled), '#'),
                     std::string(static_cast<std::size_t>(20 - filled), '.'), frac * 100);
}

}  // namespace

void transfer_printer::progress(const service::transfer_progress& p) {
  if (!json_ && !tty_) return;
  auto now = std::chrono::steady_clock::now();
  // Only the very end of the whole transfer bypasses the throttle (not each file's end:
  // 10,000 small files must not print 10,000 events).
  bool last =
      p.all_total != UINT64_MAX && p.all_done >= p.all_total && p.files_done >= p.files_total;
  std::lock_guard lock(mu_);
  if (p.index != file_index_) {
    file_index_ = p.index;
    file_start_ = now;
  }
  if (!last && now - last_ < std::chrono::milliseconds(100)) return;  // at most 10 per second
  last_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double overall_rate = elapsed > 0 ? static_cast<double>(p.all_done) / elapsed : 0;
  if (json_) {
    nlohmann::json j{{"event", "progress"},
                     {"name", p.name},
                     {"bytes", p.done},
                     {"file", p.index + 1},
                     {"files", p.count},
                     {"files_done", p.files_done},
                     {"files_total", p.files_total},
                     {"overall_bytes", p.all_done},
                     {"rate", overall_rate}};
    if (p.total != UINT64_MAX) j["total"] = p.total;
    if (p.all_total != UINT64_MAX) j["overall_total"] = p.all_total;
    print_json(j);
    return;
  }
  double file_elapsed = std::chrono::duration<double>(now - file_start_).count();
  // A file's own rate over its own time; the first report of a file has no interval yet.
  double rate = file_elapsed > 0.05 ? static_cast<double>(p.done) / file_elapsed : overall_rate;
  std::string line;
  if (p.total != UINT64_MAX && p.total > 0) {
    double eta = rate > 0 ? static_cast<double>(p.total - std::min(p.done, p.total)) / rate : 0;
    line = fmt::format("{} {} {} {}/s ETA {}", escape_for_terminal(p.name), bar(p.done, p.total),
                       human_bytes(static_cast<double>(p.done)), human_bytes(rate), eta_text(eta));
  } else {
    line = fmt::format("{} {} {}/s", escape_for_terminal(p.name),
                       human_bytes(static_cast<double>(p.done)), human_bytes(rate));
  }
  if (p.count > 1) line = fmt::format("({}/{}) ", p.index + 1, p.count) + line;
  std::string out = "\r\x1b[2K" + line;
  int lines = 1;
  if (p.files_total > 1) {
    // The overall line under the per-file one; the cursor goes back up to the first.
    std::string all;
    if (p.all_total != UINT64_MAX) {
      double eta =
          overall_rate > 0
              ? static_cast<double>(p.all_total - std::min(p.all_done, p.all_total)) / overall_rate
              : 0;
      all = fmt::format("total {} {}/{} files, {} of {}, {}/s ETA {}", bar(p.all_done, p.all_total),
                        p.files_done, p.files_total, human_bytes(static_cast<double>(p.all_done)),
                        human_bytes(static_cast<double>(p.all_total)), human_bytes(overall_rate),
                        eta_text(eta));
    } else {
      all = fmt::format("total {}/{} files, {}, {}/s", p.files_done, p.files_total,
                        human_bytes(static_cast<double>(p.all_done)), human_bytes(overall_rate));
    }
    out += "\n\x1b[2K" + all + "\x1b[1A\r";
    lines = 2;
  }
  fmt::print(stderr, "{}", out);
  std::fflush(stderr);
  lines_shown_ = std::max(lines_shown_, lines);
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
  if (lines_shown_ > 0) {
    std::fputs(lines_shown_ > 1 ? "\r\x1b[2K\n\x1b[2K\x1b[1A\r" : "\r\x1b[2K", stderr);
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
      print_line(fmt::format("failed {}: {}{}", name, escape_for_terminal(r.code),
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
    double rate = seconds > 0 ? static_cast<double>(bytes) / seconds : 0;
    print_line(fmt::format("{} files, {} failed, {} in {:.2f} s, {}/s", files, failed,
                           human_bytes(static_cast<double>(bytes)), seconds, human_bytes(rate)),
               stderr);
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace sockit::cli
