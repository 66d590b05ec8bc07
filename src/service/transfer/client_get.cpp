// transfer_client::get in its steps: plan (client_get_plan.cpp), note the directories that
// were there before, open the partials and ask for every file in one pipelined batch,
// receive each file into its partial, then set the directories' modes and mtimes.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_get.hpp"
#include "sockit/net/error.hpp"

namespace sockit::service {
namespace client_detail {

std::vector<file_result> get_run::run(const std::vector<std::string>& names,
                                      const std::string& out_dir) {
  std::error_code ec;
  out_ = open_root_dir(out_dir, ec);
  if (ec) {
    file_result r;
    r.name = out_dir;
    r.code = "io_error";
    r.message = "cannot open output directory: " + ec.message();
    return {r};
  }
  // Modes from a server are masked by the local umask, as those of a file made here would be,
  // and files get no exec bit unless --preserve-mode (a downloaded script is not a program the
  // user chose to run); setuid, setgid and sticky never.
  const auto umask_bits = static_cast<unsigned>(current_umask());
  file_mask_ = (s_.opt.preserve_mode ? 0777u : 0666u) & ~umask_bits;
  dir_mask_ = 0777u & ~umask_bits;
  if (!plan(names)) return std::move(results_);
  note_existing_dirs();
  open_partials();
  receive();
  finish_directories();
  return std::move(results_);
}

// Directories that exist before anything is written are never changed by what a server
// says (a hostile one would chmod an existing .ssh to 0777): only those this get creates
// take its mode and mtime. Anything but "missing" counts as existing.
void get_run::note_existing_dirs() {
  existed_.assign(jobs_.size(), 0);
  for (std::size_t i = 0; i < jobs_.size(); ++i) {
    if (!jobs_[i].dir) continue;
    std::error_code dec;
    open_dir_chain(out_.get(), jobs_[i].parts, false, 0, dec);
    existed_[i] = !dec || dec != std::errc::no_such_file_or_directory;
  }
}

// Directories are made now; for each file, what its reply will need (and, with --resume,
// the hash of its partial's prefix) and its request.
void get_run::open_partials() {
  prep_.resize(jobs_.size());
  ids_.emplace(s_.next_id, jobs_.size(), 1);
  std::error_code ec;
  for (std::size_t i = 0; i < jobs_.size(); ++i) {
    auto& j = jobs_[i];
    file_result r;
    r.name = j.local;
    r.directory = j.dir;
    const auto& parts = j.parts;
    if (j.dir) {
      open_dir_chain(out_.get(), parts, true, 0755, ec);
      if (ec) fail_result(r, ec);
      ec.clear();
      results_.push_back(r);
      continue;
    }
    auto& p = prep_[i];
    p.base = parts.back();
    const std::span<const std::string> dir_parts(parts.data(), parts.size() - 1);
    // Nothing is created or held open here: directories and the partial come when the
    // file's reply does, so a listing of many files a server never sends costs neither
    // descriptors nor empty partials (a hostile listing of 20,000 ran the client out of
    // descriptors and left 10,000 empty partials: review finding).
    std::error_code pec;
    unique_fd parent = open_dir_chain(out_.get(), dir_parts, false, 0755, pec);
    if (pec && pec != std::errc::no_such_file_or_directory) ec = pec;
    struct stat st {};
    if (!ec && parent && !s_.opt.overwrite &&
        ::fstatat(parent.get(), p.base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      ec = transfer_errc::name_exists;
    }
    if (ec) {
      fail_result(r, ec);
      ec.clear();
      results_.push_back(r);
      continue;
    }
    json req{{"op", "get"},
             {"id", ids_->id(0, i)},
             {"name", j.remote},
             {"hash", hash_name(s_.opt.hash)}};
    unique_fd partial;
    if (s_.opt.resume && parent) {
      partial.reset(::openat(parent.get(), partial_name(p.base).c_str(),
                             O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
    }
    if (partial && ::fstat(partial.get(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
        st.st_size > 0) {
      p.dev = st.st_dev;  // the file whose prefix is hashed is the one the reply must extend
      p.ino = st.st_ino;
      hasher hs(s_.opt.hash);
      hash_file_range(partial.get(), 0, static_cast<std::uint64_t>(st.st_size), hs, ec);
      if (!ec) {
        p.offset = static_cast<std::uint64_t>(st.st_size);
        req["offset"] = p.offset;
        req["prefix_hash"] = hs.hex();
        p.prefix = std::move(hs);
      }
      ec.clear();
    }
    p.result = static_cast<int>(results_.size());
    results_.push_back(r);
    codec::append_frame(requests_, req);
    asked_.push_back(i);
  }
}

// Sends the requests from a helper thread while this one receives the files in order.
void get_run::receive() {
  for (std::size_t i : asked_) overall_.add(jobs_[i].size);
  std::thread sender([&] {
    net::send_all(s_.fd(), requests_, send_ec_);
    ::shutdown(s_.fd(), SHUT_WR);
  });
  thread_guard guard(sender, s_.fd());
  for (std::size_t k = 0; k < asked_.size() && !ec_ && problem_.empty(); ++k) {
    if (!receive_one(k)) break;
  }
  if (problem_.empty() && !ec_) {
    guard.join();
  } else {
    guard.stop();
  }
  if (!problem_.empty() || ec_ || send_ec_) {
    for (std::size_t i : asked_) {
      auto& r = results_[static_cast<std::size_t>(prep_[i].result)];
      if (!r.hash.empty() || !r.code.empty()) continue;
      if (!problem_.empty()) {
        r.code = "protocol_error";
        r.message = problem_;
      } else {
        fail_result(r, ec_ ? ec_ : send_ec_);
      }
    }
  }
}

// The reply for the k-th file asked for: its header, body into the partial, trailer, and
// the partial promoted. False when nothing more can be read (ec_ or problem_ says why).
bool get_run::receive_one(std::size_t k) {
  std::size_t i = asked_[k];
  auto& p = prep_[i];
  // This file's directory and partial are open only for this turn, whatever path it ends by.
  struct close_at_end {
    get_partial& p;
    ~close_at_end() {
      p.file.reset();
      p.parent.reset();
    }
  } closer{p};
  auto& r = results_[static_cast<std::size_t>(p.result)];
  auto t0 = clock_type::now();
  codec::frame_header h;
  if (!s_.read_reply(h, ec_)) return false;
  if (h.op() != "file") {
    r.code = code_from_reply(h.fields);
    r.message = message_from_reply(h.fields);
    overall_.finished(jobs_[i].size);
    return true;
  }
  reply_fields f(h.fields);
  auto offset = f.u64("offset", 0);
  auto size = f.u64("file_size", 0, true);
  auto mode = f.u64("mode", 0644, false, 07777);
  auto mtime_ns = f.i64("mtime_ns", -1);
  if (f.ok() && id_of(h.fields) != ids_->id(0, i)) f.reject("an \"id\" that is not the request's");
  if (f.ok() && (offset > size || h.body_size != size - offset))
    f.reject("\"size\", \"offset\" and \"file_size\" that disagree");
  if (f.ok() && offset != 0 && offset != p.offset)
    f.reject("an \"offset\" that is not where the local partial ends");
  if (!f.ok()) {
    problem_ = f.why("the reply for " + r.name);
    return false;
  }
  hasher hs(s_.opt.hash);
  if (offset > 0 && p.prefix) {
    hs = *p.prefix;
    r.resumed_from = offset;
  } else {
    r.restarted = p.offset > 0;
  }
  // Now the directories and the partial (held only while this file arrives). If they
  // cannot be made, the body is still read, to keep the stream in step, and dropped.
  std::error_code wec;
  p.parent = open_dir_chain(
      out_.get(), std::span<const std::string>(jobs_[i].parts.data(), jobs_[i].parts.size() - 1),
      true, 0755, wec);
  if (!wec) {
    // A resumed file must still be the partial whose prefix was hashed (same inode, one
    // link, not shorter): otherwise the stored bytes would not be the ones the hash covers.
    // A fresh one replaces whatever sits at the partial's name, created anew (O_EXCL), so
    // a hard link planted there is never written through.
    const std::string pname = partial_name(p.base);
    constexpr int flags = O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    if (offset > 0) {
      p.file.reset(::openat(p.parent.get(), pname.c_str(), flags));
    } else {
      ::unlinkat(p.parent.get(), pname.c_str(), 0);
      p.file.reset(::openat(p.parent.get(), pname.c_str(), flags | O_CREAT | O_EXCL, 0600));
    }
    struct stat pst {};
    if (!p.file) {
      wec = errno == ELOOP || errno == EEXIST ? make_error_code(transfer_errc::unsafe_name)
                                              : last_error();
    } else if (::fstat(p.file.get(), &pst) != 0 || !S_ISREG(pst.st_mode) || pst.st_nlink != 1) {
      wec = transfer_errc::unsafe_name;  // something not a file of ours sits at the partial's name
      p.file.reset();
    } else if (offset > 0 && (pst.st_dev != p.dev || pst.st_ino != p.ino ||
                              static_cast<std::uint64_t>(pst.st_size) < offset)) {
      wec = transfer_errc::hash_mismatch;  // the partial changed since its prefix was hashed
      p.file.reset();
    } else if (::ftruncate(p.file.get(), static_cast<off_t>(offset)) != 0) {
      wec = last_error();
    }
  }
  std::uint64_t at = offset;
  while (!ec_ && s_.reader->body_left() > 0) {
    auto piece = s_.reader->read_body(ec_);
    if (ec_) break;
    if (!wec) write_at(p.file.get(), piece, at, true, wec);
    hs.update(piece);
    at += piece.size();
    r.bytes += piece.size();
    overall_.report(progress_, r.name, at, size, k, asked_.size());
  }
  if (ec_) return false;
  if (at == offset) overall_.report(progress_, r.name, at, size, k, asked_.size());
  overall_.finished(at);
  codec::frame_header t;
  if (!s_.read_reply(t, ec_)) return false;
  r.seconds = seconds_since(t0);
  r.file_size = at;
  reply_fields tf(t.fields);
  std::string their_hash = tf.str("hash", {}, true);
  if (t.op() != "end") tf.reject("no \"end\" trailer");
  if (!tf.ok()) {
    problem_ = tf.why("the trailer for " + r.name);
    return false;  // the bytes may be right: the partial stays, --resume checks its prefix
  }
  r.hash = hs.hex();
  if (wec) {
    fail_result(r, wec);
    return true;
  }
  if (their_hash != r.hash || at != size) {
    r.code = "hash_mismatch";
    r.message = "received bytes do not match the server's hash";
    ::unlinkat(p.parent.get(), partial_name(p.base).c_str(), 0);
    return true;
  }
  finish_file(p.file.get(), at, static_cast<int>(mode & file_mask_), mtime_ns, wec);
  if (!wec) promote(p.parent.get(), partial_name(p.base), p.base, s_.opt.overwrite, wec);
  if (wec) fail_result(r, wec);
  return true;
}

// Directory modes and mtimes last, deepest first: writing a directory's files (and
// renaming their partials) changed its mtime; setting a child's does not touch its parent.
// Only for the directories this get created.
void get_run::finish_directories() {
  std::vector<std::size_t> dirs;
  for (std::size_t i = 0; i < jobs_.size(); ++i) {
    if (jobs_[i].dir && !existed_[i]) dirs.push_back(i);
  }
  deepest_first(dirs, [&](std::size_t i) { return jobs_[i].parts.size(); });
  for (std::size_t i : dirs) {
    std::error_code dec;
    unique_fd d = open_dir_chain(out_.get(), jobs_[i].parts, false, 0755, dec);
    int mode = jobs_[i].mode >= 0
                   ? static_cast<int>(static_cast<unsigned>(jobs_[i].mode) & dir_mask_)
                   : -1;
    if (!dec) finish_dir(d.get(), mode, jobs_[i].mtime_ns, dec);
    if (dec) {
      for (auto& r : results_) {
        if (r.directory && r.name == jobs_[i].local) fail_result(r, dec);
      }
    }
  }
}

}  // namespace client_detail

std::vector<file_result> transfer_client::get(const std::vector<std::string>& names,
                                              const std::string& out_dir,
                                              const progress_fn& progress) {
  client_detail::get_run run(*this, *impl_, progress);
  return run.run(names, out_dir);
}

}  // namespace sockit::service
