// The transfer client's shared helpers: sendfile with hashing, socket timeouts, reply checking and
// the mapping of local failures to result codes.
#include "client_support.hpp"

#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockit/net/error.hpp"
#include "sockit/service/transfer_fs.hpp"
#include "wire_error.hpp"

namespace sockit::service::client_detail {

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
        ec = (errno == EAGAIN || errno == EWOULDBLOCK) ? make_error_code(std::errc::timed_out)
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

std::string code_from_reply(const json& reply) {
  auto it = reply.find("code");
  return it != reply.end() && it->is_string() ? it->get<std::string>() : "protocol_error";
}

std::string message_from_reply(const json& reply) {
  auto it = reply.find("message");
  return it != reply.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool is_stream_error(const std::error_code& ec) {
  return ec == errc::protocol_error || ec == errc::bad_header || ec == errc::frame_too_large ||
         ec == errc::header_too_deep || ec == errc::body_too_large;
}

std::string result_code(const std::error_code& ec) {
  return is_stream_error(ec) ? "protocol_error" : std::string(transfer::wire_code(ec));
}

void fail_result(file_result& r, const std::error_code& ec) {
  if (!r.code.empty()) return;
  r.code = result_code(ec);
  r.message = ec.message();
}

std::uint64_t reply_fields::u64(const char* key, std::uint64_t fallback, bool required,
                                std::uint64_t max) {
  const json* v = find(key, required);
  if (v == nullptr) return fallback;
  if (!v->is_number_unsigned() || v->get<std::uint64_t>() > max) return bad(key, fallback);
  return v->get<std::uint64_t>();
}

std::int64_t reply_fields::i64(const char* key, std::int64_t fallback, bool required) {
  const json* v = find(key, required);
  if (v == nullptr) return fallback;
  if (v->is_number_unsigned() ? v->get<std::uint64_t>() > INT64_MAX : !v->is_number_integer())
    return bad(key, fallback);
  return v->get<std::int64_t>();
}

std::string reply_fields::str(const char* key, std::string fallback, bool required) {
  const json* v = find(key, required);
  if (v == nullptr) return fallback;
  if (!v->is_string()) return bad(key, std::move(fallback));
  return v->get<std::string>();
}

const json* reply_fields::find(const char* key, bool required) {
  auto it = j_.is_object() ? j_.find(key) : j_.end();
  if (it != j_.end() && !it->is_null()) return &*it;
  if (required) reject(std::string("no \"") + key + "\"");
  return nullptr;
}

}  // namespace sockit::service::client_detail
