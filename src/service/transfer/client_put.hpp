// transfer_client::put's steps (internal): the state one put shares between its steps and
// threads, and the sender that streams every request and body while the calling thread
// collects the replies.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client_support.hpp"

namespace sockit::service::client_detail {

// The id ranges of one put (request_ids: item i's range, base + range*n + i).
enum put_range : std::size_t { put_request = 0, put_resume_stat = 1, put_closing_mkdir = 2 };

struct put_state {
  put_state(const std::vector<put_item>& items, std::uint64_t& next_id);

  const std::vector<put_item>& items;
  // Three ranges, and one spare id after them (as the ids were always numbered).
  request_ids ids;
  std::vector<file_result> results;
  // --resume: where each file starts, and the hash of the prefix the server already has.
  std::vector<std::uint64_t> start;
  std::vector<std::optional<hasher>> prefix;
  std::vector<std::string> prefix_hex;

  // Shared by the sender and the reply loop, under `mu`.
  std::mutex mu;
  std::vector<std::uint64_t> done_bytes;
  std::vector<clock_type::time_point> started;
  // Written by the sender once a file's bytes are all hashed, read by the reply loop: empty
  // until then, so an `ok` that comes before the trailer is caught.
  std::vector<std::string> local_hash;
  std::error_code send_error;
};

// Streams a put's requests and bodies on the connection, in item order, then the closing
// mkdirs (directory modes and mtimes) and a half-close. Runs on its own thread (run()).
class put_sender {
 public:
  put_sender(connection& s, put_state& st, const progress_fn& progress);
  void run();

 private:
  std::error_code send_small(std::size_t i);
  std::error_code send_directory(std::size_t i);
  std::error_code send_stream(std::size_t i);
  std::error_code send_file(std::size_t i);
  void send_gathered(std::error_code& ec);
  void send_closing_mkdirs();
  json put_header(std::size_t i, std::uint64_t size, std::uint64_t from,
                  const struct stat& st) const;
  void set_local_hash(std::size_t i, std::string hex);
  bool failed_before();

  connection& s_;
  put_state& st_;
  const progress_fn& progress_;
  overall_counter overall_;
  std::vector<std::uint64_t> expected_;  // each file's size as planned (unknown_size: stdin)
  std::vector<char> buf_;
  std::string gathered_;  // small files' whole frames, sent together
};

}  // namespace sockit::service::client_detail
