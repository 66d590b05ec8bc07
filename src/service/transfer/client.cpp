// transfer_client's connection: connect and hello, and `ls` (a listing in one or more
// frames). put, get and the classic upload have files of their own (client_*.cpp).
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "client_support.hpp"
#include "sockit/net/error.hpp"
#include "sockit/service/known_hosts.hpp"
#include "sockit/version.hpp"
#include "wire_error.hpp"

namespace sockit::service {

using namespace client_detail;

transfer_client::transfer_client(transfer_client_options options)
    : impl_(std::make_unique<impl>(options)) {}
transfer_client::~transfer_client() = default;

void transfer_client::connect(const net::endpoint& e, std::error_code& ec, std::string& why) {
  impl_->sock = net::socket::connect(e, ec, &why);
  if (ec) return;
  int one = 1;
  if (!e.is_unix()) ::setsockopt(impl_->fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (impl_->opt.tls) {
    const std::string endpoint = e.to_string();
    const auto& o = impl_->opt;
    impl_->pump =
        tls_pump::connect(std::move(impl_->sock), o.trust, endpoint,
                          e.is_unix() ? std::string() : e.host(), o.io_timeout_s, ec, why);
    if (!impl_->pump) return;
  }
  set_timeouts(impl_->fd(), impl_->opt.io_timeout_s);
  impl_->reader = std::make_unique<blocking_frame_reader>(impl_->fd(), impl_->lim);
  std::string opening(codec::magic.begin(), codec::magic.end());
  codec::append_frame(
      opening,
      json{{"op", "hello"},
           {"id", 0},
           {"versions", {codec::protocol_version}},
           {"client", software_name},
           {"auth", impl_->opt.token.empty() ? json(nullptr) : json{{"token", impl_->opt.token}}}});
  net::send_all(impl_->fd(), opening, ec);
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
    ec = transfer::error_of_wire_code(code_from_reply(h.fields));
    why = "server refused: " + code_from_reply(h.fields) + ": " + message_from_reply(h.fields);
  }
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
  net::send_all(s.fd(), frame, ec);
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
      ec = transfer::error_of_wire_code(code_from_reply(h.fields));
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

}  // namespace sockit::service
