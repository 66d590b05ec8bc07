// put_sender: the thread of a put that streams every request and body, in item order, while
// the calling thread reads the replies (client_put.cpp). Small files go gathered, whole
// frames in one buffer; large ones by sendfile, hashed from a mapping as they go.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_put.hpp"
#include "sockit/service/transfer_fs.hpp"

namespace sockit::service::client_detail {
namespace {

// Small files go as whole frames (put + body + end) gathered into one buffer and sent
// together: a few syscalls per batch instead of ~8 per file (mmap, sendfile, 2 sends...).
constexpr std::uint64_t small_file = 64 * 1024;
constexpr std::size_t gather_limit = 256 * 1024;

}  // namespace

put_sender::put_sender(connection& s, put_state& st, const progress_fn& progress)
    : s_(s), st_(st), progress_(progress), expected_(st.items.size(), 0), buf_(1 << 20) {
  for (std::size_t i = 0; i < st.items.size(); ++i) {
    const auto& it = st.items[i];
    if (it.what == put_item::kind::directory) continue;
    struct stat sst {};
    if (it.what == put_item::kind::stdin_stream) {
      expected_[i] = unknown_size;
    } else if (::lstat(it.local_path.c_str(), &sst) == 0) {
      expected_[i] = static_cast<std::uint64_t>(sst.st_size);
    }
    overall_.add(expected_[i]);
  }
}

void put_sender::run() {
  const auto& items = st_.items;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& it = items[i];
    std::error_code ec;
    st_.started[i] = clock_type::now();
    const bool small = it.what == put_item::kind::file && expected_[i] <= small_file;
    if (!small) send_gathered(ec);  // keep the stream in request order
    // When the gathered small files could not be sent, the connection is gone (below).
    if (!ec) {
      if (small) {
        ec = send_small(i);
      } else if (it.what == put_item::kind::directory) {
        ec = send_directory(i);
      } else if (it.what == put_item::kind::stdin_stream) {
        ec = send_stream(i);
      } else {
        ec = send_file(i);
      }
    }
    std::lock_guard lock(st_.mu);
    if (ec) {
      st_.send_error = ec;
      break;
    }
  }
  {
    std::error_code gec;
    if (!failed_before()) send_gathered(gec);
    std::lock_guard lock(st_.mu);
    if (gec) st_.send_error = gec;
  }
  send_closing_mkdirs();
  ::shutdown(s_.fd(), SHUT_WR);  // no more requests: the server closes after replying
}

bool put_sender::failed_before() {
  std::lock_guard lock(st_.mu);
  return static_cast<bool>(st_.send_error);
}

void put_sender::send_gathered(std::error_code& ec) {
  if (!gathered_.empty() && !ec) net::send_all(s_.fd(), gathered_, ec);
  gathered_.clear();
}

void put_sender::set_local_hash(std::size_t i, std::string hex) {
  std::lock_guard lock(st_.mu);
  st_.local_hash[i] = std::move(hex);
}

// The put frame's header for item i: `size` bytes of the file from `from` on.
json put_sender::put_header(std::size_t i, std::uint64_t size, std::uint64_t from,
                            const struct stat& st) const {
  json h{{"op", "put"},
         {"id", st_.ids.id(put_request, i)},
         {"name", st_.items[i].remote_name},
         {"size", size},
         {"offset", from},
         {"hash", hash_name(s_.opt.hash)},
         {"mode", st.st_mode & 0777},
         {"mtime_ns", mtime_ns_of(st)},
         {"overwrite", s_.opt.overwrite}};
  if (from > 0) h["prefix_hash"] = st_.prefix_hex[i];
  return h;
}

std::error_code put_sender::send_small(std::size_t i) {
  const auto& it = st_.items[i];
  const std::uint64_t id = st_.ids.id(put_request, i);
  std::error_code ec;
  unique_fd f(::open(it.local_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  std::uint64_t size = 0, got = 0;
  bool ok = f && ::fstat(f.get(), &st) == 0 && S_ISREG(st.st_mode);
  if (ok) size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t from = ok && st_.start[i] <= size ? st_.start[i] : 0;
  // Read it whole before its header announces the size: a file that changed under us
  // fails alone (io_error) and the stream stays in step.
  ok = ok && size - from <= buf_.size();
  while (ok && got < size - from) {
    ssize_t n = ::pread(f.get(), buf_.data() + got, static_cast<std::size_t>(size - from - got),
                        static_cast<off_t>(from + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = false;
    if (n > 0) got += static_cast<std::uint64_t>(n);
  }
  if (!ok) {
    std::lock_guard lock(st_.mu);
    st_.results[i].code = "io_error";
    st_.results[i].message = "cannot read " + it.local_path;
    overall_.finished(expected_[i]);
    return ec;
  }
  std::string_view body(buf_.data(), static_cast<std::size_t>(size - from));
  hasher hs = st_.prefix[i] && from > 0 ? *st_.prefix[i] : hasher(s_.opt.hash);
  hs.update(body);
  std::string hex = hs.hex();
  set_local_hash(i, hex);
  codec::append_frame(gathered_, put_header(i, body.size(), from, st));
  gathered_.append(body);
  codec::append_frame(gathered_, json{{"op", "end"}, {"id", id}, {"hash", hex}});
  if (gathered_.size() >= gather_limit) send_gathered(ec);
  {
    std::lock_guard lock(st_.mu);
    st_.done_bytes[i] = body.size();
    st_.results[i].resumed_from = from;
    st_.results[i].file_size = size;
  }
  overall_.report(progress_, it.remote_name, size, size, i, st_.items.size());
  overall_.finished(size);
  return ec;
}

std::error_code put_sender::send_directory(std::size_t i) {
  const auto& it = st_.items[i];
  std::error_code ec;
  struct stat st {};
  int mode = ::lstat(it.local_path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : 0755;
  std::string frame;
  codec::append_frame(frame, json{{"op", "mkdir"},
                                  {"id", st_.ids.id(put_request, i)},
                                  {"name", it.remote_name},
                                  {"mode", mode}});
  net::send_all(s_.fd(), frame, ec);
  return ec;
}

// stdin: a stream of unknown size, sent as data frames and a zero-size one at its end.
std::error_code put_sender::send_stream(std::size_t i) {
  const auto& it = st_.items[i];
  const std::uint64_t id = st_.ids.id(put_request, i);
  std::error_code ec;
  hasher hs(s_.opt.hash);
  std::string frame;
  codec::append_frame(frame, json{{"op", "put"},
                                  {"id", id},
                                  {"name", it.remote_name},
                                  {"hash", hash_name(s_.opt.hash)},
                                  {"overwrite", s_.opt.overwrite},
                                  {"stream", true}});
  net::send_all(s_.fd(), frame, ec);
  std::uint64_t total = 0;
  while (!ec) {
    ssize_t n = ::read(STDIN_FILENO, buf_.data(), buf_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ec = last_error();
      break;
    }
    auto piece = std::string_view(buf_.data(), static_cast<std::size_t>(n));
    hs.update(piece);
    frame.clear();
    codec::append_frame(frame, json{{"op", "data"}, {"id", id}}, piece);
    if (n == 0) {
      frame.clear();
      codec::append_frame(frame, json{{"op", "data"}, {"id", id}, {"size", 0}});
    }
    net::send_all(s_.fd(), frame, ec);
    if (n == 0) break;
    total += static_cast<std::uint64_t>(n);
    {
      std::lock_guard lock(st_.mu);
      st_.done_bytes[i] = total;
    }
    overall_.report(progress_, it.remote_name, total, unknown_size, i, st_.items.size());
  }
  overall_.finished(total);
  std::string hex = hs.hex();
  set_local_hash(i, hex);
  frame.clear();
  codec::append_frame(frame, json{{"op", "end"}, {"id", id}, {"hash", hex}});
  if (!ec) net::send_all(s_.fd(), frame, ec);
  return ec;
}

std::error_code put_sender::send_file(std::size_t i) {
  const auto& it = st_.items[i];
  const std::uint64_t id = st_.ids.id(put_request, i);
  std::error_code ec;
  unique_fd f(::open(it.local_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!f || ::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    // Keep the stream in step: announce nothing, the reply loop knows.
    std::lock_guard lock(st_.mu);
    st_.results[i].code = "io_error";
    st_.results[i].message = "cannot open " + it.local_path;
    overall_.finished(expected_[i]);
    return ec;
  }
  auto size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t from = st_.start[i] <= size ? st_.start[i] : 0;
  hasher hs = st_.prefix[i] && from > 0 ? *st_.prefix[i] : hasher(s_.opt.hash);
  std::string frame;
  codec::append_frame(frame, put_header(i, size - from, from, st));
  net::send_all(s_.fd(), frame, ec);
  std::uint64_t done = from;
  if (!ec) {
    send_file_hashed(
        s_.fd(), f.get(), from, size - from, hs,
        [&](std::uint64_t n) {
          done += n;
          {
            std::lock_guard lock(st_.mu);
            st_.done_bytes[i] = done - from;
          }
          overall_.report(progress_, it.remote_name, done, size, i, st_.items.size());
        },
        ec);
  }
  if (size == from) overall_.report(progress_, it.remote_name, size, size, i, st_.items.size());
  overall_.finished(size);
  std::string hex = hs.hex();
  set_local_hash(i, hex);
  frame.clear();
  codec::append_frame(frame, json{{"op", "end"}, {"id", id}, {"hash", hex}});
  if (!ec) net::send_all(s_.fd(), frame, ec);
  std::lock_guard lock(st_.mu);
  st_.results[i].resumed_from = from;
  st_.results[i].file_size = size;
  return ec;
}

// Directory mtimes last, deepest first: the server's writes into a directory changed its
// mtime, and requests are handled in order, so these come after every file is stored.
void put_sender::send_closing_mkdirs() {
  const auto& items = st_.items;
  std::vector<std::size_t> dirs;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].what == put_item::kind::directory) dirs.push_back(i);
  }
  deepest_first(dirs, [&](std::size_t i) {
    return std::count(items[i].remote_name.begin(), items[i].remote_name.end(), '/');
  });
  std::string closing;
  for (std::size_t i : dirs) {
    struct stat st {};
    if (::lstat(items[i].local_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    codec::append_frame(closing, json{{"op", "mkdir"},
                                      {"id", st_.ids.id(put_closing_mkdir, i)},
                                      {"name", items[i].remote_name},
                                      {"mode", st.st_mode & 0777},
                                      {"mtime_ns", mtime_ns_of(st)}});
  }
  std::error_code cec;
  if (!failed_before() && !closing.empty()) net::send_all(s_.fd(), closing, cec);
  if (cec) {
    std::lock_guard lock(st_.mu);
    st_.send_error = cec;
  }
}

}  // namespace sockit::service::client_detail
