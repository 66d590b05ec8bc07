// transfer_client::put_classic: the seeds' upload format (head with md5, then the bytes, for
// each file; no magic and no replies), so sockit can feed a classic server.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <filesystem>

#include "client_support.hpp"
#include "sockit/service/transfer_fs.hpp"

namespace sockit::service {

using namespace client_detail;

std::vector<file_result> transfer_client::put_classic(const net::endpoint& e,
                                                      const std::vector<std::string>& files,
                                                      const progress_fn& progress,
                                                      std::error_code& ec, std::string& why) {
  std::vector<file_result> results;
  net::socket sock = net::socket::connect(e, ec, &why);
  if (ec) return results;
  overall_counter overall;
  for (const auto& f : files) {
    struct stat st {};
    overall.add(::lstat(f.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0);
  }
  set_timeouts(sock.native_handle(), 60);
  for (std::size_t i = 0; i < files.size(); ++i) {
    file_result r;
    auto t0 = clock_type::now();
    r.name = std::filesystem::path(files[i]).filename().string();
    unique_fd f(::open(files[i].c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!f || ::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      r.code = "io_error";
      r.message = "cannot open " + files[i] + " as a regular file";
      results.push_back(r);
      overall.finished(0);
      continue;
    }
    auto size = static_cast<std::uint64_t>(st.st_size);
    // The head carries the md5, so the seeds' format needs it before the first byte.
    hasher md5(hash_algorithm::md5);
    hash_file_range(f.get(), 0, size, md5, ec);
    if (ec) {
      why = "cannot read " + files[i] + ": " + ec.message();
      return results;
    }
    r.hash = md5.hex();
    std::string head = codec::encode_classic_head(
        json{{"file_size", size}, {"file_name", r.name}, {"md5", r.hash}});
    net::send_all(sock.native_handle(), head, ec);
    hasher again(hash_algorithm::md5);
    std::uint64_t done = 0;
    if (!ec) {
      send_file_hashed(
          sock.native_handle(), f.get(), 0, size, again,
          [&](std::uint64_t n) {
            done += n;
            overall.report(progress, r.name, done, size, i, files.size());
          },
          ec);
    }
    if (size == 0) overall.report(progress, r.name, 0, 0, i, files.size());
    overall.finished(size);
    if (ec) {
      why = "sending " + files[i] + ": " + ec.message();
      return results;
    }
    if (again.hex() != r.hash) {
      r.code = "io_error";
      r.message = "file changed while being sent";
    }
    r.bytes = r.file_size = size;
    r.seconds = seconds_since(t0);
    results.push_back(r);
  }
  // Half-close and wait for the server to close: then it has read everything we sent.
  ::shutdown(sock.native_handle(), SHUT_WR);
  char sink[4096];
  for (int rounds = 0; rounds < 1000; ++rounds) {
    ssize_t n = ::recv(sock.native_handle(), sink, sizeof sink, 0);
    if (n <= 0) break;
  }
  return results;
}

}  // namespace sockit::service
