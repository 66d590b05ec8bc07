// transfer_client::put in its steps: ask for the resume prefixes (--resume), start the
// sender (client_put_sender.cpp), collect the replies in order.
#include "client_put.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "sockit/net/error.hpp"
#include "sockit/service/transfer_fs.hpp"

namespace sockit::service {
namespace client_detail {
namespace {

// --resume: asks for every partial first (one pipelined batch), then checks each prefix
// against the local file. False when the put ends here (its results are final).
bool ask_resume_prefixes(connection& s, put_state& st) {
  const auto& items = st.items;
  std::string batch;
  std::vector<std::size_t> asked;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].what != put_item::kind::file) continue;
    codec::append_frame(batch, json{{"op", "stat"},
                                    {"id", st.ids.id(put_resume_stat, i)},
                                    {"name", items[i].remote_name},
                                    {"hash", hash_name(s.opt.hash)}});
    asked.push_back(i);
  }
  std::error_code ec;
  std::string problem;
  std::thread sender([&] {
    std::error_code sec;
    net::send_all(s.fd(), batch, sec);
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
    struct stat fst {};
    if (!f || ::fstat(f.get(), &fst) != 0) continue;
    hasher hs(s.opt.hash);
    std::error_code hec;
    if (static_cast<std::uint64_t>(fst.st_size) >= psize) {
      hash_file_range(f.get(), 0, psize, hs, hec);
    }
    if (!hec && static_cast<std::uint64_t>(fst.st_size) >= psize && hs.hex() == phash) {
      st.start[i] = psize;
      st.prefix[i] = std::move(hs);
      st.prefix_hex[i] = st.prefix[i]->hex();
    } else {
      st.results[i].restarted = true;  // the server's partial is not our prefix: start over
    }
  }
  if (!problem.empty()) {
    guard.stop();
    for (auto& r : st.results) {
      r.code = "protocol_error";
      r.message = problem;
    }
    return false;
  }
  guard.join();
  if (ec) {
    for (auto& r : st.results) fail_result(r, ec);
    return false;
  }
  return true;
}

// Reads the replies until the server closes (it does after the last one), then waits for
// or stops the sender and gives every unanswered item its reason.
void collect_replies(connection& s, put_state& st, thread_guard& guard) {
  const std::size_t n = st.items.size();
  std::error_code ec;
  std::vector<char> answered(n, 0);
  std::string connection_error;
  std::string problem;  // a malformed reply: the server cannot be trusted any further
  for (;;) {
    codec::frame_header h;
    if (!s.read_reply(h, ec)) {
      if (s.reader->clean_eof()) ec.clear();  // the server closes after the last reply
      break;
    }
    auto rid = id_of(h.fields);
    if (auto d = st.ids.item(put_closing_mkdir, rid)) {
      if (h.op() == "error") {  // a directory's closing mkdir (mode, mtime) failed
        std::lock_guard lock(st.mu);
        auto& r = st.results[*d];
        r.code = code_from_reply(h.fields);
        r.message = message_from_reply(h.fields);
      }
      continue;
    }
    auto item = st.ids.item(put_request, rid);
    if (!item) {
      if (h.op() == "error") connection_error = code_from_reply(h.fields);
      continue;
    }
    std::size_t i = *item;
    std::lock_guard lock(st.mu);
    answered[i] = 1;
    auto& r = st.results[i];
    r.seconds = seconds_since(st.started[i]);
    r.bytes = st.done_bytes[i];
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
      if (!r.directory && st.local_hash[i].empty()) {
        // Confirmed before this client sent the trailer, or with no hash: a server that
        // confirms what it has not seen cannot be trusted with the rest either.
        problem = "the server confirmed " + r.name + " before it was sent";
        r.hash.clear();
        r.code = "protocol_error";
        r.message = problem;
        break;
      }
      if (!r.directory && r.hash != st.local_hash[i]) {
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
  // ec first: stop() makes the sender fail too.
  std::error_code final_ec = ec ? ec : st.send_error;
  for (std::size_t i = 0; i < n; ++i) {
    auto& r = st.results[i];
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
}

}  // namespace

put_state::put_state(const std::vector<put_item>& its, std::uint64_t& next_id)
    : items(its),
      ids(next_id, its.size(), 3, 1),
      results(its.size()),
      start(its.size(), 0),
      prefix(its.size()),
      prefix_hex(its.size()),
      done_bytes(its.size(), 0),
      local_hash(its.size()) {
  for (std::size_t i = 0; i < its.size(); ++i) {
    results[i].name = its[i].remote_name;
    results[i].directory = its[i].what == put_item::kind::directory;
  }
}

}  // namespace client_detail

std::vector<file_result> transfer_client::put(const std::vector<put_item>& items,
                                              const progress_fn& progress) {
  using namespace client_detail;
  auto& s = *impl_;
  put_state st(items, s.next_id);
  if (s.opt.resume && !ask_resume_prefixes(s, st)) return std::move(st.results);
  st.started.assign(items.size(), clock_type::now());
  put_sender sender(s, st, progress);
  std::thread thread([&sender] { sender.run(); });
  thread_guard guard(thread, s.fd());
  collect_replies(s, st, guard);
  return std::move(st.results);
}

}  // namespace sockit::service
