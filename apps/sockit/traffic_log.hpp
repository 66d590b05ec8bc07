// -x/--hexdump FILE and -o/--output FILE on connect, listen and forward (ncat -x/-o,
// socat -x -v): every chunk each way, recorded by service::format_dump. "-" is stderr. A
// file is created 0600 (a session's bytes can be secrets) and truncated.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sockit/service/traffic_dump.hpp"

namespace sockit::cli {

struct traffic_log_cli {
  std::string hexdump, output;
};

void add_traffic_log_options(CLI::App* cmd, traffic_log_cli& t);

class traffic_log {
 public:
  /// Opens the files; throws std::runtime_error naming one that cannot be created.
  explicit traffic_log(const traffic_log_cli& t);
  ~traffic_log();
  traffic_log(const traffic_log&) = delete;
  traffic_log& operator=(const traffic_log&) = delete;

  bool enabled() const noexcept { return !sinks_.empty(); }
  /// One chunk, to every sink; safe from any thread (forward's loops). A sink that fails
  /// (disk full) is warned about once on stderr and written no more; the relay goes on.
  void record(bool sent, std::string_view who, std::uint64_t offset,
              std::span<const std::byte> data);

 private:
  struct sink {
    int fd = -1;
    bool owned = false;
    service::dump_style style = service::dump_style::hex;
    std::string name;
    bool failed = false;
  };
  std::vector<sink> sinks_;
  std::mutex mu_;
};

}  // namespace sockit::cli
