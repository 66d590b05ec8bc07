// Progress and results for put/get: a bar on stderr when it is a terminal (with an overall
// line for many files), one line per file and a summary otherwise, or --json events
// (progress at most 10 per second, with overall totals, then a final result).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "sockit/service/transfer_client.hpp"

namespace sockit::cli {

class transfer_printer {
 public:
  /// `verb`: "sent" / "received"; `json`: --json lines on stdout.
  transfer_printer(std::string verb, bool json);
  /// Safe to call from any thread; throttled.
  void progress(const service::transfer_progress& p);
  /// Prints per-file lines and the final result; returns the exit status (0 = all ok).
  int finish(const std::vector<service::file_result>& results, double seconds);
  void note(const std::string& text);

 private:
  std::string verb_;
  bool json_;
  bool tty_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_{};
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point file_start_ = start_;
  std::size_t file_index_ = 0;
  int lines_shown_ = 0;  // terminal lines the bar occupies (per-file, and overall)
};

/// "12.3 MB" style sizes (decimal units, like human_count).
std::string human_bytes(double bytes);

}  // namespace sockit::cli
