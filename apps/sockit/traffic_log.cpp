// traffic_log: the files behind -x and -o, and one lock for them, so records from several
// connections (forward) never interleave inside one another.
#include "traffic_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "output.hpp"

namespace sockit::cli {

void add_traffic_log_options(CLI::App* cmd, traffic_log_cli& t) {
  cmd->add_option("-x,--hexdump", t.hexdump,
                  "Record each direction's bytes as a hex dump in FILE (- for stderr; README: "
                  "\"Hex dump and session log\")");
  cmd->add_option("-o,--output", t.output,
                  "Record each direction's bytes as escaped text in FILE (- for stderr)");
}

traffic_log::traffic_log(const traffic_log_cli& t) {
  auto open = [this](const std::string& path, service::dump_style style) {
    if (path.empty()) return;
    sink s;
    s.style = style;
    s.name = path == "-" ? "stderr" : path;
    if (path == "-") {
      s.fd = STDERR_FILENO;
    } else {
      s.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
      if (s.fd < 0) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
      s.owned = true;
      // An existing file keeps its mode through O_CREAT: make it private as a new one is.
      struct stat st {};
      if (::fstat(s.fd, &st) == 0 && st.st_uid == ::geteuid()) ::fchmod(s.fd, 0600);
      for (const auto& other : sinks_) {
        struct stat o {};
        if (other.owned && ::fstat(other.fd, &o) == 0 && o.st_dev == st.st_dev &&
            o.st_ino == st.st_ino) {
          ::close(s.fd);
          throw std::runtime_error("-x and -o name the same file: " + path);
        }
      }
    }
    sinks_.push_back(std::move(s));
  };
  open(t.hexdump, service::dump_style::hex);
  open(t.output, service::dump_style::text);
}

traffic_log::~traffic_log() {
  for (auto& s : sinks_)
    if (s.owned) ::close(s.fd);
}

void traffic_log::record(bool sent, std::string_view who, std::uint64_t offset,
                         std::span<const std::byte> data) {
  service::dump_chunk c;
  c.sent = sent;
  c.who = who;
  c.offset = offset;
  c.data = data;
  c.when = std::chrono::system_clock::now();
  std::lock_guard lock(mu_);
  for (auto& s : sinks_) {
    if (s.failed) continue;
    const std::string text = service::format_dump(c, s.style);
    const char* p = text.data();
    std::size_t left = text.size();
    while (left > 0) {
      const ssize_t w = ::write(s.fd, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        s.failed = true;
        print_line("sockit: warning: cannot write the session record to " + s.name + ": " +
                       std::strerror(errno) + "; no more is recorded there",
                   stderr);
        break;
      }
      p += w;
      left -= static_cast<std::size_t>(w);
    }
  }
}

}  // namespace sockit::cli
