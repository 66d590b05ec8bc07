// transfer_client: blocking socket, a sender thread that streams requests and bodies while
// the calling thread reads replies in order, so files are pipelined with no round-trip stall.
#include "sockit/service/transfer_client.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "sockit/codec/frame.hpp"
#include "sockit/net/error.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/service/transfer_fs.hpp"

namespace sockit::service {
namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;
constexpr std::uint64_t unknown_size = UINT64_MAX;

std::error_code last_error() { return {errno, std::system_category()}; }

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

std::int64_t mtime_ns_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// Blocking frame reader over a socket: headers, bodies in pieces, or whole small bodies.
class sync_reader {
 public:
  sync_reader(int fd, codec::limits lim) : fd_(fd), parser_(lim), buf_(256 * 1024) {}

  bool read_header(codec::frame_header& h, std::error_code& ec) {
    for (;;) {
      std::string_view in(buf_.data() + begin_, end_ - begin_);
      auto ev = parser_.next(in);
      begin_ = end_ - in.size();
      if (ev == codec::parser::event::header) {
        h = std::move(parser_.header());
        body_left_ = h.has_body ? h.body_size : 0;
        if (body_left_ == 0) {
          std::string_view none;
          parser_.next(none);
        }
        return true;
      }
      if (ev == codec::parser::event::error) {
        ec = parser_.error();
        return false;
      }
      if (ev != codec::parser::event::need_more) continue;
      if (!fill(ec)) return false;
    }
  }

  // Next piece of the current body; empty when done.
  std::string_view read_body(std::error_code& ec) {
    if (body_left_ == 0) return {};
    for (;;) {
      std::string_view in(buf_.data() + begin_, end_ - begin_);
      auto ev = parser_.next(in);
      begin_ = end_ - in.size();
      if (ev == codec::parser::event::body) {
        body_left_ = parser_.body_remaining();
        std::string_view piece = parser_.body_piece();
        if (body_left_ == 0) {
          std::string_view none;
          parser_.next(none);
        }
        return piece;
      }
      if (ev == codec::parser::event::error) {
        ec = parser_.error();
        return {};
      }
      if (!fill(ec)) return {};
    }
  }

  bool read_body_into(std::string& out, std::error_code& ec) {
    out.clear();
    while (body_left_ > 0) {
      auto piece = read_body(ec);
      if (ec) return false;
      out.append(piece);
    }
    return true;
  }

  std::uint64_t body_left() const noexcept { return body_left_; }
  /// The last failure was the peer closing cleanly between frames.
  bool clean_eof() const noexcept { return eof_; }

 private:
  bool fill(std::error_code& ec) {
    if (begin_ == end_) begin_ = end_ = 0;
    if (end_ == buf_.size()) {
      std::copy(buf_.begin() + static_cast<std::ptrdiff_t>(begin_), buf_.end(), buf_.begin());
      end_ -= begin_;
      begin_ = 0;
    }
    for (;;) {
      ssize_t n = ::recv(fd_, buf_.data() + end_, buf_.size() - end_, 0);
      if (n > 0) {
        end_ += static_cast<std::size_t>(n);
        return true;
      }
      if (n == 0) {
        eof_ = parser_.at_frame_boundary();
        ec = eof_ ? make_error_code(std::errc::connection_reset)
                  : make_error_code(errc::protocol_error);
        return false;
      }
      if (errno == EINTR) continue;
      ec = (errno == EAGAIN || errno == EWOULDBLOCK) ? make_error_code(errc::timed_out)
                                                     : last_error();
      return false;
    }
  }

  int fd_;
  codec::parser parser_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  std::uint64_t body_left_ = 0;
  bool eof_ = false;
};

void send_all(int fd, std::string_view data, std::error_code& ec) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ec = (errno == EAGAIN || errno == EWOULDBLOCK) ? make_error_code(errc::timed_out)
                                                     : last_error();
      return;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Sends [offset, offset+count) of `file`, hashing each window from a read-only mapping
// (page cache, no copy) just before sendfile sends it (no copy through user space either).
void send_file_hashed(int sock, int file, std::uint64_t offset, std::uint64_t count, hasher& h,
                      const std::function<void(std::uint64_t)>& sent, std::error_code& ec) {
  constexpr std::uint64_t window = 8u << 20;
  while (count > 0) {
    std::uint64_t n = std::min(window, count);
    std::uint64_t aligned = offset & ~static_cast<std::uint64_t>(4095);
    std::size_t map_len = static_cast<std::size_t>(offset - aligned + n);
    void* p = ::mmap(nullptr, map_len, PROT_READ, MAP_SHARED, file, static_cast<off_t>(aligned));
    if (p == MAP_FAILED) {
      ec = last_error();
      return;
    }
    ::madvise(p, map_len, MADV_SEQUENTIAL | MADV_WILLNEED);
    h.update(static_cast<const char*>(p) + (offset - aligned), static_cast<std::size_t>(n));
    ::munmap(p, map_len);
    auto off = static_cast<off_t>(offset);
    std::uint64_t left = n;
    while (left > 0) {
      ssize_t s = ::sendfile(sock, file, &off, static_cast<std::size_t>(left));
      if (s < 0 && errno == EINTR) continue;
      if (s < 0) {
        ec = (errno == EAGAIN || errno == EWOULDBLOCK) ? make_error_code(errc::timed_out)
                                                       : last_error();
        return;
      }
      if (s == 0) {
        ec = make_error_code(std::errc::io_error);  // the file shrank while being sent
        return;
      }
      left -= static_cast<std::uint64_t>(s);
      sent(static_cast<std::uint64_t>(s));
    }
    offset += n;
    count -= n;
  }
}

// Running totals of a multi-file transfer, added to every progress report.
struct overall_counter {
  std::size_t files_total = 0;
  std::uint64_t bytes_total = 0;  // unknown_size when a stream of unknown size is part of it
  std::size_t files_done = 0;
  std::uint64_t bytes_done = 0;  // bytes of the finished files

  void add(std::uint64_t size) {
    ++files_total;
    if (size == unknown_size || bytes_total == unknown_size) {
      bytes_total = unknown_size;
    } else {
      bytes_total += size;
    }
  }
  void report(const progress_fn& fn, const std::string& name, std::uint64_t done,
              std::uint64_t total, std::size_t index, std::size_t count) const {
    if (!fn) return;
    bool complete = total != unknown_size && done >= total;
    fn({name, done, total, index, count, files_done + (complete ? 1 : 0), files_total,
        bytes_done + done, bytes_total});
  }
  void finished(std::uint64_t size) {
    ++files_done;
    bytes_done += size;
  }
};

std::string code_from_reply(const json& reply) {
  auto it = reply.find("code");
  return it != reply.end() && it->is_string() ? it->get<std::string>() : "protocol_error";
}

std::string message_from_reply(const json& reply) {
  auto it = reply.find("message");
  return it != reply.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Errors of the byte stream itself (what the server sent cannot be parsed as frames).
bool is_stream_error(const std::error_code& ec) {
  return ec == errc::protocol_error || ec == errc::bad_header || ec == errc::frame_too_large ||
         ec == errc::header_too_deep || ec == errc::body_too_large;
}

void fail_result(file_result& r, const std::error_code& ec) {
  if (!r.code.empty()) return;
  r.code = ec.category() == error_category() && ec == errc::timed_out ? "timed_out" : "io_error";
  if (ec == errc::unsafe_name) r.code = "unsafe_name";
  if (ec == errc::name_exists) r.code = "exists";
  if (ec == errc::hash_mismatch) r.code = "hash_mismatch";
  if (is_stream_error(ec)) r.code = "protocol_error";
  r.message = ec.message();
}

// The fields of a server's frame, checked. The server is a peer like any other: nlohmann's
// value() and get<>() throw type_error on a wrong type, and thrown past a running helper
// thread that was std::terminate (exit 134, partials in an unknown state). Each accessor
// gives the fallback when the field is absent (unless required) and records the first field
// that is missing or of the wrong type or range; ok() says whether the frame can be used.
class reply_fields {
 public:
  explicit reply_fields(const json& j) : j_(j) {}

  std::uint64_t u64(const char* key, std::uint64_t fallback, bool required = false,
                    std::uint64_t max = UINT64_MAX) {
    const json* v = find(key, required);
    if (v == nullptr) return fallback;
    if (!v->is_number_unsigned() || v->get<std::uint64_t>() > max) return bad(key, fallback);
    return v->get<std::uint64_t>();
  }
  std::int64_t i64(const char* key, std::int64_t fallback, bool required = false) {
    const json* v = find(key, required);
    if (v == nullptr) return fallback;
    if (v->is_number_unsigned() ? v->get<std::uint64_t>() > INT64_MAX : !v->is_number_integer())
      return bad(key, fallback);
    return v->get<std::int64_t>();
  }
  std::string str(const char* key, std::string fallback = {}, bool required = false) {
    const json* v = find(key, required);
    if (v == nullptr) return fallback;
    if (!v->is_string()) return bad(key, std::move(fallback));
    return v->get<std::string>();
  }
  /// Marks the frame unusable for a reason found by the caller (sizes that disagree...).
  void reject(std::string why) {
    if (why_.empty()) why_ = std::move(why);
  }
  bool ok() const noexcept { return why_.empty(); }
  /// "protocol error: <what>: a malformed \"mode\"" (or: no \"file_size\").
  std::string why(std::string_view what) const {
    return "protocol error: " + std::string(what) + ": " + why_;
  }

 private:
  const json* find(const char* key, bool required) {
    auto it = j_.is_object() ? j_.find(key) : j_.end();
    if (it != j_.end() && !it->is_null()) return &*it;
    if (required) reject(std::string("no \"") + key + "\"");
    return nullptr;
  }
  template <class T>
  T bad(const char* key, T fallback) {
    reject(std::string("a malformed \"") + key + "\"");
    return fallback;
  }

  const json& j_;
  std::string why_;
};

// Joins a helper thread on every way out of a scope, exceptions included (a joinable
// std::thread destroyed is std::terminate). Shutting the socket first ends a send that a
// silent server would otherwise hold until the I/O timeout.
class thread_guard {
 public:
  thread_guard(std::thread& t, int fd) : t_(t), fd_(fd) {}
  thread_guard(const thread_guard&) = delete;
  thread_guard& operator=(const thread_guard&) = delete;
  ~thread_guard() { stop(); }
  /// Ends the connection (both ways) and joins: for giving up on a hostile server.
  void stop() {
    if (!t_.joinable()) return;
    ::shutdown(fd_, SHUT_RDWR);
    t_.join();
  }
  /// Waits for the thread to finish its work normally.
  void join() {
    if (t_.joinable()) t_.join();
  }

 private:
  std::thread& t_;
  int fd_;
};

// Replies echo the request's id; anything else (null, a string from a confused peer) is 0.
std::uint64_t id_of(const json& h) {
  auto it = h.find("id");
  return it != h.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

void set_timeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool sendable_name(const std::string& name) {
  std::error_code ec;
  split_safe_name(name, ec);
  return !ec;
}

}  // namespace

std::vector<put_item> plan_put(const std::vector<std::string>& paths, const std::string& stdin_name,
                               std::vector<std::string>& skipped, std::error_code& ec,
                               std::string& why) {
  namespace fs = std::filesystem;
  std::vector<put_item> items;
  ec.clear();
  for (const auto& p : paths) {
    if (p == "-") {
      if (stdin_name.empty()) {
        ec = errc::unsafe_name;
        why = "'-' (stdin) needs --name";
        return {};
      }
      std::error_code nec;
      split_safe_name(stdin_name, nec);
      if (nec) {
        ec = nec;
        why = "--name: " + nec.message();
        return {};
      }
      items.push_back({put_item::kind::stdin_stream, p, stdin_name});
      continue;
    }
    fs::path path(p);
    std::error_code sec;
    auto st = fs::symlink_status(path, sec);
    if (sec) {
      ec = sec;
      why = "cannot read " + p + ": " + sec.message();
      return {};
    }
    fs::path norm = path.lexically_normal();
    std::string base = norm.filename().string();
    if (base.empty() || base == "." || base == "..") {
      base = fs::absolute(norm, sec).lexically_normal().filename().string();
      if (base.empty())
        base = fs::absolute(norm, sec).lexically_normal().parent_path().filename().string();
    }
    if (fs::is_symlink(st)) {
      skipped.push_back(p + " (symlink, not followed)");
      continue;
    }
    // The server accepts only names its rule accepts (valid UTF-8, no control characters,
    // NAME_MAX per component): anything else is skipped here with the reason, not sent (a
    // name that is not UTF-8 cannot even be put in a JSON header).
    if (!sendable_name(base)) {
      skipped.push_back(p + " (name not valid UTF-8 or not allowed by the protocol)");
      continue;
    }
    if (fs::is_regular_file(st)) {
      items.push_back({put_item::kind::file, p, base});
      continue;
    }
    if (!fs::is_directory(st)) {
      skipped.push_back(p + " (not a regular file or directory)");
      continue;
    }
    items.push_back({put_item::kind::directory, p, base});
    // recursive_directory_iterator does not follow directory symlinks by default.
    std::vector<put_item> found;
    for (auto it = fs::recursive_directory_iterator(path, sec);
         !sec && it != fs::recursive_directory_iterator(); it.increment(sec)) {
      // Lexical: the iterator's paths all start with `path` (fs::relative would canonicalise
      // both, a readlink per component per file).
      std::string rel = base + "/" + it->path().lexically_relative(path).generic_string();
      auto est = it->symlink_status(sec);
      if (!sendable_name(rel)) {
        skipped.push_back(it->path().string() +
                          " (name not valid UTF-8 or not allowed by the protocol)");
        if (fs::is_directory(est)) it.disable_recursion_pending();
      } else if (fs::is_symlink(est)) {
        skipped.push_back(it->path().string() + " (symlink, not followed)");
      } else if (fs::is_directory(est)) {
        found.push_back({put_item::kind::directory, it->path().string(), rel});
      } else if (fs::is_regular_file(est)) {
        found.push_back({put_item::kind::file, it->path().string(), rel});
      } else {
        skipped.push_back(it->path().string() + " (not a regular file)");
      }
    }
    if (sec) {
      ec = sec;
      why = "cannot walk " + p + ": " + sec.message();
      return {};
    }
    // Directories before the files in them; a stable order makes runs comparable.
    std::sort(found.begin(), found.end(),
              [](const put_item& a, const put_item& b) { return a.remote_name < b.remote_name; });
    items.insert(items.end(), found.begin(), found.end());
  }
  return items;
}

struct transfer_client::impl {
  transfer_client_options opt;
  net::socket sock;
  codec::limits lim;
  std::unique_ptr<sync_reader> reader;
  std::uint64_t next_id = 1;

  explicit impl(transfer_client_options o) : opt(o) {
    // File bodies stream to disk and may exceed 4 GiB; bodies held in memory (listings)
    // are checked against max_listing before they are read.
    lim.max_body = UINT64_MAX;
  }

  int fd() const { return sock.native_handle(); }

  bool read_reply(codec::frame_header& h, std::error_code& ec) {
    return reader->read_header(h, ec);
  }
};

transfer_client::transfer_client(transfer_client_options options)
    : impl_(std::make_unique<impl>(options)) {}
transfer_client::~transfer_client() = default;

void transfer_client::connect(const net::endpoint& e, std::error_code& ec, std::string& why) {
  impl_->sock = net::socket::connect(e, ec, &why);
  if (ec) return;
  set_timeouts(impl_->fd(), impl_->opt.io_timeout_s);
  int one = 1;
  if (!e.is_unix()) ::setsockopt(impl_->fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  impl_->reader = std::make_unique<sync_reader>(impl_->fd(), impl_->lim);
  std::string opening(codec::magic.begin(), codec::magic.end());
  codec::append_frame(opening, json{{"op", "hello"},
                                    {"id", 0},
                                    {"versions", {codec::protocol_version}},
                                    {"client", "sockit/0.1"},
                                    {"auth", nullptr}});
  send_all(impl_->fd(), opening, ec);
  if (ec) {
    why = "cannot send hello: " + ec.message();
    return;
  }
  codec::frame_header h;
  if (!impl_->read_reply(h, ec)) {
    why = "no hello from the server: " + ec.message();
    return;
  }
  if (h.op() != "hello") {
    ec = errc::protocol_error;
    why = "server refused: " + code_from_reply(h.fields) + ": " + message_from_reply(h.fields);
  }
}

std::vector<file_result> transfer_client::put(const std::vector<put_item>& items,
                                              const progress_fn& progress) {
  auto& s = *impl_;
  std::vector<file_result> results(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    results[i].name = items[i].remote_name;
    results[i].directory = items[i].what == put_item::kind::directory;
  }
  std::uint64_t base_id = s.next_id;
  // Ids: base+i for item i, base+n+i for its resume stat, base+2n+i for a directory's
  // closing mkdir (mode and mtime, sent after its files).
  s.next_id += items.size() * 3 + 1;

  // --resume: ask for every partial first (one pipelined batch), then check each prefix.
  std::vector<std::uint64_t> start(items.size(), 0);
  std::vector<std::optional<hasher>> prefix(items.size());
  std::vector<std::string> prefix_hex(items.size());
  if (s.opt.resume) {
    std::string batch;
    std::vector<std::size_t> asked;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].what != put_item::kind::file) continue;
      codec::append_frame(batch, json{{"op", "stat"},
                                      {"id", base_id + items.size() + i},
                                      {"name", items[i].remote_name},
                                      {"hash", hash_name(s.opt.hash)}});
      asked.push_back(i);
    }
    std::error_code ec;
    std::string problem;
    std::thread sender([&] {
      std::error_code sec;
      send_all(s.fd(), batch, sec);
    });
    thread_guard guard(sender, s.fd());
    for (std::size_t i : asked) {
      codec::frame_header h;
      if (!s.read_reply(h, ec)) break;
      if (h.op() != "stat") continue;
      reply_fields sf(h.fields);
      auto psize = sf.u64("partial_size", 0);
      auto phash = sf.str("partial_hash");
      if (!sf.ok()) {
        problem = sf.why("the stat reply for " + items[i].remote_name);
        break;
      }
      if (psize == 0) continue;
      unique_fd f(::open(items[i].local_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      struct stat st {};
      if (!f || ::fstat(f.get(), &st) != 0) continue;
      hasher hs(s.opt.hash);
      std::error_code hec;
      if (static_cast<std::uint64_t>(st.st_size) >= psize) {
        hash_file_range(f.get(), 0, psize, hs, hec);
      }
      if (!hec && static_cast<std::uint64_t>(st.st_size) >= psize && hs.hex() == phash) {
        start[i] = psize;
        prefix[i] = std::move(hs);
        prefix_hex[i] = prefix[i]->hex();
      } else {
        results[i].restarted = true;  // the server's partial is not our prefix: start over
      }
    }
    if (!problem.empty()) {
      guard.stop();
      for (auto& r : results) {
        r.code = "protocol_error";
        r.message = problem;
      }
      return results;
    }
    guard.join();
    if (ec) {
      for (auto& r : results) fail_result(r, ec);
      return results;
    }
  }

  // The put frame's header for items[i]: `size` bytes of the file from `from` on.
  auto put_header = [&](std::size_t i, const json& id, std::uint64_t size, std::uint64_t from,
                        const struct stat& st) {
    json h{{"op", "put"},
           {"id", id},
           {"name", items[i].remote_name},
           {"size", size},
           {"offset", from},
           {"hash", hash_name(s.opt.hash)},
           {"mode", st.st_mode & 0777},
           {"mtime_ns", mtime_ns_of(st)},
           {"overwrite", s.opt.overwrite}};
    if (from > 0) h["prefix_hash"] = prefix_hex[i];
    return h;
  };
  overall_counter overall;
  std::vector<std::uint64_t> expected(items.size(), 0);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].what == put_item::kind::directory) continue;
    struct stat st {};
    if (items[i].what == put_item::kind::stdin_stream) {
      expected[i] = unknown_size;
    } else if (::lstat(items[i].local_path.c_str(), &st) == 0) {
      expected[i] = static_cast<std::uint64_t>(st.st_size);
    }
    overall.add(expected[i]);
  }

  // The sender thread streams every request and body; this thread reads the replies.
  std::mutex mu;
  std::vector<std::uint64_t> done_bytes(items.size(), 0);
  std::vector<clock_type::time_point> started(items.size(), clock_type::now());
  // Written by the sender once a file's bytes are all hashed, read by the reply loop: under
  // `mu`, and empty until then, so an `ok` that comes before the trailer is caught.
  std::vector<std::string> local_hash(items.size());
  auto set_local_hash = [&](std::size_t i, std::string hex) {
    std::lock_guard lock(mu);
    local_hash[i] = std::move(hex);
  };
  std::error_code send_error;
  std::thread sender([&] {
    std::string frame;
    std::vector<char> buf(1 << 20);
    // Small files go as whole frames (put + body + end) gathered into one buffer and sent
    // together: a few syscalls per batch instead of ~8 per file (mmap, sendfile, 2 sends...).
    constexpr std::uint64_t small_file = 64 * 1024;
    constexpr std::size_t gather_limit = 256 * 1024;
    std::string gathered;
    auto send_gathered = [&](std::error_code& ec) {
      if (!gathered.empty() && !ec) send_all(s.fd(), gathered, ec);
      gathered.clear();
    };
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& it = items[i];
      std::uint64_t id = base_id + i;
      std::error_code ec;
      started[i] = clock_type::now();
      frame.clear();
      bool small = false;
      if (it.what == put_item::kind::file && expected[i] <= small_file) {
        small = true;
      } else {
        send_gathered(ec);  // keep the stream in request order
      }
      if (ec) {
        // The gathered small files could not be sent: the connection is gone (below).
      } else if (small) {
        unique_fd f(::open(it.local_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        struct stat st {};
        std::uint64_t size = 0, got = 0;
        bool ok = f && ::fstat(f.get(), &st) == 0 && S_ISREG(st.st_mode);
        if (ok) size = static_cast<std::uint64_t>(st.st_size);
        std::uint64_t from = ok && start[i] <= size ? start[i] : 0;
        // Read it whole before its header announces the size: a file that changed under us
        // fails alone (io_error) and the stream stays in step.
        ok = ok && size - from <= buf.size();
        while (ok && got < size - from) {
          ssize_t n =
              ::pread(f.get(), buf.data() + got, static_cast<std::size_t>(size - from - got),
                      static_cast<off_t>(from + got));
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) ok = false;
          if (n > 0) got += static_cast<std::uint64_t>(n);
        }
        if (!ok) {
          std::lock_guard lock(mu);
          results[i].code = "io_error";
          results[i].message = "cannot read " + it.local_path;
          overall.finished(expected[i]);
          continue;
        }
        std::string_view body(buf.data(), static_cast<std::size_t>(size - from));
        hasher hs = prefix[i] && from > 0 ? *prefix[i] : hasher(s.opt.hash);
        hs.update(body);
        set_local_hash(i, hs.hex());
        codec::append_frame(gathered, put_header(i, id, body.size(), from, st));
        gathered.append(body);
        codec::append_frame(gathered, json{{"op", "end"}, {"id", id}, {"hash", local_hash[i]}});
        if (gathered.size() >= gather_limit) send_gathered(ec);
        {
          std::lock_guard lock(mu);
          done_bytes[i] = body.size();
          results[i].resumed_from = from;
          results[i].file_size = size;
        }
        overall.report(progress, it.remote_name, size, size, i, items.size());
        overall.finished(size);
      } else if (it.what == put_item::kind::directory) {
        struct stat st {};
        int mode =
            ::lstat(it.local_path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : 0755;
        codec::append_frame(
            frame, json{{"op", "mkdir"}, {"id", id}, {"name", it.remote_name}, {"mode", mode}});
        send_all(s.fd(), frame, ec);
      } else if (it.what == put_item::kind::stdin_stream) {
        hasher hs(s.opt.hash);
        codec::append_frame(frame, json{{"op", "put"},
                                        {"id", id},
                                        {"name", it.remote_name},
                                        {"hash", hash_name(s.opt.hash)},
                                        {"overwrite", s.opt.overwrite},
                                        {"stream", true}});
        send_all(s.fd(), frame, ec);
        std::uint64_t total = 0;
        while (!ec) {
          ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) {
            ec = last_error();
            break;
          }
          auto piece = std::string_view(buf.data(), static_cast<std::size_t>(n));
          hs.update(piece);
          frame.clear();
          codec::append_frame(frame, json{{"op", "data"}, {"id", id}}, piece);
          if (n == 0) {
            frame.clear();
            codec::append_frame(frame, json{{"op", "data"}, {"id", id}, {"size", 0}});
          }
          send_all(s.fd(), frame, ec);
          if (n == 0) break;
          total += static_cast<std::uint64_t>(n);
          {
            std::lock_guard lock(mu);
            done_bytes[i] = total;
          }
          overall.report(progress, it.remote_name, total, unknown_size, i, items.size());
        }
        overall.finished(total);
        set_local_hash(i, hs.hex());
        frame.clear();
        codec::append_frame(frame, json{{"op", "end"}, {"id", id}, {"hash", local_hash[i]}});
        if (!ec) send_all(s.fd(), frame, ec);
      } else {
        unique_fd f(::open(it.local_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        struct stat st {};
        if (!f || ::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
          // Keep the stream in step: announce nothing, the reply loop knows.
          std::lock_guard lock(mu);
          results[i].code = "io_error";
          results[i].message = "cannot open " + it.local_path;
          overall.finished(expected[i]);
          continue;
        }
        auto size = static_cast<std::uint64_t>(st.st_size);
        std::uint64_t from = start[i] <= size ? start[i] : 0;
        hasher hs = prefix[i] && from > 0 ? *prefix[i] : hasher(s.opt.hash);
        codec::append_frame(frame, put_header(i, id, size - from, from, st));
        send_all(s.fd(), frame, ec);
        std::uint64_t done = from;
        if (!ec) {
          send_file_hashed(
              s.fd(), f.get(), from, size - from, hs,
              [&](std::uint64_t n) {
                done += n;
                {
                  std::lock_guard lock(mu);
                  done_bytes[i] = done - from;
                }
                overall.report(progress, it.remote_name, done, size, i, items.size());
              },
              ec);
        }
        if (size == from) overall.report(progress, it.remote_name, size, size, i, items.size());
        overall.finished(size);
        set_local_hash(i, hs.hex());
        frame.clear();
        codec::append_frame(frame, json{{"op", "end"}, {"id", id}, {"hash", local_hash[i]}});
        if (!ec) send_all(s.fd(), frame, ec);
        std::lock_guard lock(mu);
        results[i].resumed_from = from;
        results[i].file_size = size;
      }
      std::lock_guard lock(mu);
      if (ec) {
        send_error = ec;
        break;
      }
    }
    {
      std::error_code gec;
      bool failed_before = false;
      {
        std::lock_guard lock(mu);
        failed_before = static_cast<bool>(send_error);
      }
      if (!failed_before) send_gathered(gec);
      std::lock_guard lock(mu);
      if (gec) send_error = gec;
    }
    // Directory mtimes last, deepest first: the server's writes into a directory changed its
    // mtime, and requests are handled in order, so these come after every file is stored.
    std::vector<std::size_t> dirs;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].what == put_item::kind::directory) dirs.push_back(i);
    }
    auto depth = [&](std::size_t i) {
      return std::count(items[i].remote_name.begin(), items[i].remote_name.end(), '/');
    };
    std::stable_sort(dirs.begin(), dirs.end(),
                     [&](std::size_t a, std::size_t b) { return depth(a) > depth(b); });
    std::string closing;
    for (std::size_t i : dirs) {
      struct stat st {};
      if (::lstat(items[i].local_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      codec::append_frame(closing, json{{"op", "mkdir"},
                                        {"id", base_id + 2 * items.size() + i},
                                        {"name", items[i].remote_name},
                                        {"mode", st.st_mode & 0777},
                                        {"mtime_ns", mtime_ns_of(st)}});
    }
    std::error_code cec;
    bool failed_before = false;
    {
      std::lock_guard lock(mu);
      failed_before = static_cast<bool>(send_error);
    }
    if (!failed_before && !closing.empty()) send_all(s.fd(), closing, cec);
    if (cec) {
      std::lock_guard lock(mu);
      send_error = cec;
    }
    ::shutdown(s.fd(), SHUT_WR);  // no more requests: the server closes after replying
  });

  thread_guard guard(sender, s.fd());
  std::error_code ec;
  std::vector<char> answered(items.size(), 0);
  std::string connection_error;
  std::string problem;  // a malformed reply: the server cannot be trusted any further
  for (;;) {
    codec::frame_header h;
    if (!s.read_reply(h, ec)) {
      if (s.reader->clean_eof()) ec.clear();  // the server closes after the last reply
      break;
    }
    auto rid = id_of(h.fields);
    if (rid >= base_id + 2 * items.size() && rid < base_id + 3 * items.size()) {
      if (h.op() == "error") {  // a directory's closing mkdir (mode, mtime) failed
        std::lock_guard lock(mu);
        auto& r = results[static_cast<std::size_t>(rid - base_id - 2 * items.size())];
        r.code = code_from_reply(h.fields);
        r.message = message_from_reply(h.fields);
      }
      continue;
    }
    if (rid < base_id || rid >= base_id + items.size()) {
      if (h.op() == "error") connection_error = code_from_reply(h.fields);
      continue;
    }
    std::size_t i = static_cast<std::size_t>(rid - base_id);
    std::lock_guard lock(mu);
    answered[i] = 1;
    auto& r = results[i];
    r.seconds = seconds_since(started[i]);
    r.bytes = done_bytes[i];
    if (h.op() == "ok") {
      reply_fields f(h.fields);
      r.hash = f.str("hash");
      r.file_size = f.u64("file_size", r.file_size);
      if (!f.ok()) {
        problem = f.why("the reply for " + r.name);
        r.hash.clear();
        r.code = "protocol_error";
        r.message = problem;
        break;
      }
      if (!r.directory && local_hash[i].empty()) {
        // Confirmed before this client sent the trailer, or with no hash: a server that
        // confirms what it has not seen cannot be trusted with the rest either.
        problem = "the server confirmed " + r.name + " before it was sent";
        r.hash.clear();
        r.code = "protocol_error";
        r.message = problem;
        break;
      }
      if (!r.directory && r.hash != local_hash[i]) {
        r.code = "hash_mismatch";
        r.message = "server stored a different hash";
      }
    } else {
      r.code = code_from_reply(h.fields);
      r.message = message_from_reply(h.fields);
    }
  }
  if (problem.empty() && !ec) {
    guard.join();
  } else {
    guard.stop();  // no more replies will be read: do not wait for a send the server ignores
  }
  std::error_code final_ec = ec ? ec : send_error;  // ec first: stop() makes the sender fail too
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& r = results[i];
    if (answered[i] || !r.code.empty()) continue;
    if (!problem.empty()) {
      r.code = "protocol_error";
      r.message = "not confirmed: " + problem;
    } else if (!connection_error.empty()) {
      r.code = connection_error;
      r.message = "the server refused the connection";
    } else if (final_ec) {
      fail_result(r, final_ec);
    } else {
      r.code = "protocol_error";
      r.message = "the server closed without replying";
    }
  }
  return results;
}

std::vector<ls_entry> transfer_client::ls(const std::string& path, bool recursive,
                                          std::error_code& ec, std::string& why, bool* truncated) {
  if (truncated != nullptr) *truncated = false;
  auto& s = *impl_;
  std::vector<ls_entry> out;
  std::string frame;
  std::uint64_t id = s.next_id++;
  codec::append_frame(frame,
                      json{{"op", "ls"}, {"id", id}, {"path", path}, {"recursive", recursive}});
  send_all(s.fd(), frame, ec);
  // A long listing comes in several `ls` frames, all but the last with "more": true.
  constexpr std::uint64_t max_listing = 256u << 20;
  // A server sends pieces of about 256 KiB: even empty frames are bounded in number, so one
  // that says "more" forever cannot keep the client reading forever.
  constexpr std::uint64_t max_listing_frames = 65536;
  // One entry is one short JSON object: a line longer or deeper than this is not an entry,
  // and parsing it would cost many times its size in memory.
  constexpr std::size_t max_entry_line = 16 * 1024;
  constexpr std::uint32_t max_entry_depth = 4;
  constexpr std::size_t max_entries = 1'000'000;
  std::uint64_t listed = 0, frames = 0;
  std::size_t line = 0;
  for (bool more = true; more;) {
    codec::frame_header h;
    if (ec || !s.read_reply(h, ec)) {
      why = "ls failed: " + ec.message();
      return out;
    }
    if (h.op() != "ls") {
      ec = code_from_reply(h.fields) == "not_found" ? make_error_code(errc::not_found)
                                                    : make_error_code(errc::protocol_error);
      why = code_from_reply(h.fields) + ": " + message_from_reply(h.fields);
      return out;
    }
    auto it = h.fields.find("more");
    more = it != h.fields.end() && it->is_boolean() && it->get<bool>();
    auto cut = h.fields.find("truncated");
    if (!more && truncated != nullptr && cut != h.fields.end() && cut->is_boolean())
      *truncated = cut->get<bool>();
    // Checked before adding: a body size near 2^64 would wrap the sum back under the cap.
    if (h.body_size > max_listing - listed || ++frames > max_listing_frames) {
      ec = errc::body_too_large;
      why = "listing larger than 256 MiB";
      return out;
    }
    listed += h.body_size;
    std::string body;
    if (!s.reader->read_body_into(body, ec)) {
      why = "ls failed: " + ec.message();
      return out;
    }
    std::size_t at = 0;
    while (at < body.size()) {
      ++line;
      std::size_t nl = body.find('\n', at);
      if (nl == std::string::npos) nl = body.size();
      bool empty = nl == at;
      std::string_view text(body.data() + at, nl - at);
      bool too_big = text.size() > max_entry_line ||
                     codec::json_depth(text, max_entry_depth) > max_entry_depth;
      auto j = empty || too_big ? json() : json::parse(text, nullptr, false);
      at = nl + 1;
      if (empty) continue;
      // A line that is not an entry is a broken listing, not one to show in part.
      reply_fields f(j);
      if (too_big) f.reject("an entry longer or deeper than an entry can be");
      if (!j.is_object()) f.reject("not a JSON object");
      ls_entry e;
      e.name = f.str("name", {}, true);
      e.type = f.str("type", {}, true);
      e.size = f.u64("size", 0);
      e.mode = static_cast<unsigned>(f.u64("mode", 0, false, 07777));
      e.mtime_ns = f.i64("mtime_ns", 0);
      if (!f.ok()) {
        ec = errc::protocol_error;
        why = f.why("line " + std::to_string(line) + " of the listing of '" + path + "'");
        out.clear();
        return out;
      }
      if (out.size() >= max_entries) {  // the server's own cap: more is not a real listing
        ec = errc::body_too_large;
        why = "listing of more than 1,000,000 entries";
        out.clear();
        return out;
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::vector<file_result> transfer_client::get(const std::vector<std::string>& names,
                                              const std::string& out_dir,
                                              const progress_fn& progress) {
  auto& s = *impl_;
  std::vector<file_result> results;
  std::error_code ec;
  unique_fd out = open_root_dir(out_dir, ec);
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
  const unsigned file_mask = (s.opt.preserve_mode ? 0777u : 0666u) & ~umask_bits;
  const unsigned dir_mask = 0777u & ~umask_bits;
  auto reply_code = [](const std::error_code& e) -> std::string {
    if (e == errc::not_found) return "not_found";
    return is_stream_error(e) ? "protocol_error" : "io_error";
  };
  // Expand names into files (and directories to create) with a recursive listing each.
  struct job {
    std::string remote, local;       // local: safe relative name below out_dir
    std::vector<std::string> parts;  // local, split into components
    std::uint64_t size = 0;
    bool dir = false;
    int mode = -1;               // directories: applied with the mtime after their files
    std::int64_t mtime_ns = -1;  // (adding an entry changes a directory's mtime)
  };
  std::vector<job> jobs;
  std::set<std::string> seen;  // a name listed twice is fetched once
  auto refuse = [&](const std::string& entry, std::string why) {
    file_result r;
    r.name = entry;
    r.code = "unsafe_name";
    r.message = std::move(why);
    results.push_back(std::move(r));
  };
  for (const auto& name : names) {
    // What was asked, as components: every entry the server lists must lie inside it. A
    // hostile server answering `get photos` with `.ssh` or `.git/hooks/pre-commit` must not
    // get them written next to photos.
    std::vector<std::string> want;
    if (!name.empty()) want = split_safe_name(name, ec);
    if (ec) {
      refuse(name, "not a valid name (section 5 of PROTOCOL.md)");
      ec.clear();
      continue;
    }
    std::string why;
    bool cut_short = false;
    auto entries = ls(name, true, ec, why, &cut_short);
    if (!ec && cut_short) {
      // Fetch what was listed, and say that it is not all: a silent partial tree would
      // look like a complete one.
      file_result r;
      r.name = name;
      r.code = reply_code(make_error_code(errc::body_too_large));
      r.message = "the server cut its listing short at its limits: not every file was fetched";
      results.push_back(r);
    }
    if (ec) {
      file_result r;
      r.name = name;
      r.code = reply_code(ec);
      r.message = why;
      results.push_back(r);
      if (ec != errc::not_found) return results;
      ec.clear();
      continue;
    }
    // `get a/b` writes b/... into out_dir: the components before the last are dropped.
    const std::size_t keep_from = want.empty() ? 0 : want.size() - 1;
    auto place = [&](const std::string& entry, std::vector<std::string>& local) {
      std::error_code pec;
      auto parts = split_safe_name(entry, pec);
      if (pec) {
        refuse(entry, "the server listed an unsafe name; nothing written for it");
        return false;
      }
      if (parts.size() < want.size() || !std::equal(want.begin(), want.end(), parts.begin())) {
        refuse(entry, "the server listed it for '" + name +
                          "', but it is not inside that name; nothing written for it");
        return false;
      }
      local.assign(parts.begin() + static_cast<std::ptrdiff_t>(keep_from), parts.end());
      return true;
    };
    auto joined = [](const std::vector<std::string>& parts) {
      std::string text;
      for (const auto& p : parts) text += (text.empty() ? "" : "/") + p;
      return text;
    };
    bool is_dir = !(entries.size() == 1 && entries[0].name == name && entries[0].type == "file");
    if (is_dir && !want.empty()) {
      // A listing holds a directory's entries, not the directory: its mode and mtime come
      // from its parent's (one level) listing.
      job top{name, want.back(), {want.back()}, 0, true};
      std::string parent = joined(std::vector<std::string>(want.begin(), want.end() - 1));
      std::error_code pec;
      std::string pwhy;
      auto siblings = ls(parent, false, pec, pwhy);
      if (pec && pec != errc::not_found) {
        file_result r;
        r.name = name;
        r.code = reply_code(pec);
        r.message = pwhy;
        results.push_back(r);
        return results;
      }
      for (const auto& e : siblings) {
        if (e.name == name && e.type == "dir") {
          top.mode = static_cast<int>(e.mode & 0777);
          top.mtime_ns = e.mtime_ns;
        }
      }
      if (seen.insert(top.local).second) jobs.push_back(std::move(top));
    }
    for (auto& e : entries) {
      if (e.type != "file" && e.type != "dir") continue;
      std::vector<std::string> local;
      if (!place(e.name, local)) continue;
      job j{e.name, joined(local), std::move(local), e.size, e.type == "dir"};
      if (!seen.insert(j.local).second) continue;
      if (j.dir) {
        j.mode = static_cast<int>(e.mode & 0777);
        j.mtime_ns = e.mtime_ns;
      }
      jobs.push_back(std::move(j));
    }
  }
  // Directories that exist before anything is written are never changed by what a server
  // says (a hostile one would chmod an existing .ssh to 0777): only those this get creates
  // take its mode and mtime. Anything but "missing" counts as existing.
  std::vector<char> existed(jobs.size(), 0);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (!jobs[i].dir) continue;
    std::error_code dec;
    open_dir_chain(out.get(), jobs[i].parts, false, 0, dec);
    existed[i] = !dec || dec != std::errc::no_such_file_or_directory;
  }
  // Prepare each local partial.
  struct prepared {
    unique_fd parent, file;
    std::string base;
    std::optional<hasher> prefix;
    std::uint64_t offset = 0;
    dev_t dev = 0;
    ino_t ino = 0;
    int result = -1;
  };
  std::vector<prepared> prep(jobs.size());
  std::string requests;
  std::vector<std::size_t> asked;
  std::uint64_t base_id = s.next_id;
  s.next_id += jobs.size();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    auto& j = jobs[i];
    file_result r;
    r.name = j.local;
    r.directory = j.dir;
    const auto& parts = j.parts;
    if (j.dir) {
      open_dir_chain(out.get(), parts, true, 0755, ec);
      if (ec) fail_result(r, ec);
      ec.clear();
      results.push_back(r);
      continue;
    }
    auto& p = prep[i];
    p.base = parts.back();
    const std::span<const std::string> dir_parts(parts.data(), parts.size() - 1);
    // Nothing is created or held open here: directories and the partial come when the
    // file's reply does, so a listing of many files a server never sends costs neither
    // descriptors nor empty partials (a hostile listing of 20,000 ran the client out of
    // descriptors and left 10,000 empty partials: review finding).
    std::error_code pec;
    unique_fd parent = open_dir_chain(out.get(), dir_parts, false, 0755, pec);
    if (pec && pec != std::errc::no_such_file_or_directory) ec = pec;
    struct stat st {};
    if (!ec && parent && !s.opt.overwrite &&
        ::fstatat(parent.get(), p.base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      ec = errc::name_exists;
    }
    if (ec) {
      fail_result(r, ec);
      ec.clear();
      results.push_back(r);
      continue;
    }
    json req{
        {"op", "get"}, {"id", base_id + i}, {"name", j.remote}, {"hash", hash_name(s.opt.hash)}};
    unique_fd partial;
    if (s.opt.resume && parent) {
      partial.reset(::openat(parent.get(), partial_name(p.base).c_str(),
                             O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
    }
    if (partial && ::fstat(partial.get(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
        st.st_size > 0) {
      p.dev = st.st_dev;  // the file whose prefix is hashed is the one the reply must extend
      p.ino = st.st_ino;
      hasher hs(s.opt.hash);
      hash_file_range(partial.get(), 0, static_cast<std::uint64_t>(st.st_size), hs, ec);
      if (!ec) {
        p.offset = static_cast<std::uint64_t>(st.st_size);
        req["offset"] = p.offset;
        req["prefix_hash"] = hs.hex();
        p.prefix = std::move(hs);
      }
      ec.clear();
    }
    p.result = static_cast<int>(results.size());
    results.push_back(r);
    codec::append_frame(requests, req);
    asked.push_back(i);
  }
  overall_counter overall;
  for (std::size_t i : asked) overall.add(jobs[i].size);
  std::error_code send_ec;
  std::thread sender([&] {
    send_all(s.fd(), requests, send_ec);
    ::shutdown(s.fd(), SHUT_WR);
  });
  thread_guard guard(sender, s.fd());
  // A malformed reply: the server cannot be trusted any further, so the rest is given up
  // and every partial stays as it is, for --resume.
  std::string problem;
  for (std::size_t k = 0; k < asked.size() && !ec && problem.empty(); ++k) {
    std::size_t i = asked[k];
    auto& p = prep[i];
    // This file's directory and partial are open only for this turn, whatever path it ends by.
    struct close_at_end {
      prepared& p;
      ~close_at_end() {
        p.file.reset();
        p.parent.reset();
      }
    } closer{p};
    auto& r = results[static_cast<std::size_t>(p.result)];
    auto t0 = clock_type::now();
    codec::frame_header h;
    if (!s.read_reply(h, ec)) break;
    if (h.op() != "file") {
      r.code = code_from_reply(h.fields);
      r.message = message_from_reply(h.fields);
      overall.finished(jobs[i].size);
      continue;
    }
    reply_fields f(h.fields);
    auto offset = f.u64("offset", 0);
    auto size = f.u64("file_size", 0, true);
    auto mode = f.u64("mode", 0644, false, 07777);
    auto mtime_ns = f.i64("mtime_ns", -1);
    if (f.ok() && id_of(h.fields) != base_id + i) f.reject("an \"id\" that is not the request's");
    if (f.ok() && (offset > size || h.body_size != size - offset))
      f.reject("\"size\", \"offset\" and \"file_size\" that disagree");
    if (f.ok() && offset != 0 && offset != p.offset)
      f.reject("an \"offset\" that is not where the local partial ends");
    if (!f.ok()) {
      problem = f.why("the reply for " + r.name);
      break;
    }
    hasher hs(s.opt.hash);
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
        out.get(), std::span<const std::string>(jobs[i].parts.data(), jobs[i].parts.size() - 1),
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
        wec = errno == ELOOP || errno == EEXIST ? make_error_code(errc::unsafe_name) : last_error();
      } else if (::fstat(p.file.get(), &pst) != 0 || !S_ISREG(pst.st_mode) || pst.st_nlink != 1) {
        wec = errc::unsafe_name;  // something not a file of ours sits at the partial's name
        p.file.reset();
      } else if (offset > 0 && (pst.st_dev != p.dev || pst.st_ino != p.ino ||
                                static_cast<std::uint64_t>(pst.st_size) < offset)) {
        wec = errc::hash_mismatch;  // the partial changed since its prefix was hashed
        p.file.reset();
      } else if (::ftruncate(p.file.get(), static_cast<off_t>(offset)) != 0) {
        wec = last_error();
      }
    }
    std::uint64_t at = offset;
    while (!ec && s.reader->body_left() > 0) {
      auto piece = s.reader->read_body(ec);
      if (ec) break;
      if (!wec) write_at(p.file.get(), piece, at, true, wec);
      hs.update(piece);
      at += piece.size();
      r.bytes += piece.size();
      overall.report(progress, r.name, at, size, k, asked.size());
    }
    if (ec) break;
    if (at == offset) overall.report(progress, r.name, at, size, k, asked.size());
    overall.finished(at);
    codec::frame_header t;
    if (!s.read_reply(t, ec)) break;
    r.seconds = seconds_since(t0);
    r.file_size = at;
    reply_fields tf(t.fields);
    std::string their_hash = tf.str("hash", {}, true);
    if (t.op() != "end") tf.reject("no \"end\" trailer");
    if (!tf.ok()) {
      problem = tf.why("the trailer for " + r.name);
      break;  // the bytes may be right: the partial stays, --resume checks its prefix
    }
    r.hash = hs.hex();
    if (wec) {
      fail_result(r, wec);
      continue;
    }
    if (their_hash != r.hash || at != size) {
      r.code = "hash_mismatch";
      r.message = "received bytes do not match the server's hash";
      ::unlinkat(p.parent.get(), partial_name(p.base).c_str(), 0);
      continue;
    }
    finish_file(p.file.get(), at, static_cast<int>(mode & file_mask), mtime_ns, wec);
    if (!wec) promote(p.parent.get(), partial_name(p.base), p.base, s.opt.overwrite, wec);
    if (wec) fail_result(r, wec);
  }
  if (problem.empty() && !ec) {
    guard.join();
  } else {
    guard.stop();
  }
  if (!problem.empty() || ec || send_ec) {
    for (std::size_t i : asked) {
      auto& r = results[static_cast<std::size_t>(prep[i].result)];
      if (!r.hash.empty() || !r.code.empty()) continue;
      if (!problem.empty()) {
        r.code = "protocol_error";
        r.message = problem;
      } else {
        fail_result(r, ec ? ec : send_ec);
      }
    }
  }
  // Directory modes and mtimes last, deepest first: writing a directory's files (and
  // renaming their partials) changed its mtime; setting a child's does not touch its parent.
  // Only for the directories this get created.
  std::vector<std::size_t> dirs;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].dir && !existed[i]) dirs.push_back(i);
  }
  std::stable_sort(dirs.begin(), dirs.end(), [&](std::size_t a, std::size_t b) {
    return jobs[a].parts.size() > jobs[b].parts.size();
  });
  for (std::size_t i : dirs) {
    std::error_code dec;
    unique_fd d = open_dir_chain(out.get(), jobs[i].parts, false, 0755, dec);
    int mode =
        jobs[i].mode >= 0 ? static_cast<int>(static_cast<unsigned>(jobs[i].mode) & dir_mask) : -1;
    if (!dec) finish_dir(d.get(), mode, jobs[i].mtime_ns, dec);
    if (dec) {
      for (auto& r : results) {
        if (r.directory && r.name == jobs[i].local) fail_result(r, dec);
      }
    }
  }
  return results;
}

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
    send_all(sock.native_handle(), head, ec);
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
