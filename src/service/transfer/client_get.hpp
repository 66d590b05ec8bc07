// transfer_client::get's steps (internal): plan (expand the names by listing them), open
// the partials (and ask for each file, with its resume prefix), receive, finish directories.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "client_support.hpp"
#include "sockit/service/transfer_fs.hpp"

namespace sockit::service::client_detail {

// One entry to fetch: a file, or a directory to create.
struct get_job {
  std::string remote, local;       // local: safe relative name below out_dir
  std::vector<std::string> parts;  // local, split into components
  std::uint64_t size = 0;
  bool dir = false;
  int mode = -1;               // directories: applied with the mtime after their files
  std::int64_t mtime_ns = -1;  // (adding an entry changes a directory's mtime)
};

// A file's local side: its partial's name, the prefix hashed for --resume, and (only while
// its reply arrives) its directory and partial, open.
struct get_partial {
  unique_fd parent, file;
  std::string base;
  std::optional<hasher> prefix;
  std::uint64_t offset = 0;
  dev_t dev = 0;
  ino_t ino = 0;
  int result = -1;  // index into the results
};

class get_run {
 public:
  get_run(transfer_client& client, connection& s, const progress_fn& progress)
      : client_(client), s_(s), progress_(progress) {}
  std::vector<file_result> run(const std::vector<std::string>& names, const std::string& out_dir);

 private:
  // client_get_plan.cpp
  bool plan(const std::vector<std::string>& names);
  void refuse(const std::string& entry, std::string why);
  // client_get.cpp
  void note_existing_dirs();
  void open_partials();
  void receive();
  bool receive_one(std::size_t k);
  void finish_directories();

  transfer_client& client_;
  connection& s_;
  const progress_fn& progress_;
  unique_fd out_;
  unsigned file_mask_ = 0, dir_mask_ = 0;
  std::vector<file_result> results_;
  std::vector<get_job> jobs_;
  std::vector<char> existed_;  // per job: a directory that was there before this get
  std::vector<get_partial> prep_;
  std::optional<request_ids> ids_;
  std::string requests_;
  std::vector<std::size_t> asked_;  // the jobs asked for, in request order
  overall_counter overall_;
  std::error_code ec_, send_ec_;
  // A malformed reply: the server cannot be trusted any further, so the rest is given up
  // and every partial stays as it is, for --resume.
  std::string problem_;
};

}  // namespace sockit::service::client_detail
