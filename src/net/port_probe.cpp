// Concurrent, bounded port probes with non-blocking connect()/send() and one poll() loop.
#include "sockit/net/port_probe.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "sockit/net/error.hpp"
#include "sockit/net/lookup.hpp"
#include "text_util.hpp"

namespace sockit::net {
namespace {

using clock = std::chrono::steady_clock;

socklen_t make_sockaddr(const ip_address& a, std::uint16_t port, sockaddr_storage& ss) {
  ss = {};
  std::uint8_t bytes[16];
  std::size_t n = a.to_bytes(bytes);
  if (a.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, bytes, n);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  std::memcpy(&in6->sin6_addr, bytes, n);
  return sizeof(sockaddr_in6);
}

bool parse_port_number(std::string_view s, std::uint16_t& port) {
  if (s.empty() || s.size() > 5 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  unsigned v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  if (v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

struct in_flight {
  int fd;
  std::size_t index;
  clock::time_point start;
};

}  // namespace

const char* to_string(port_state s) noexcept {
  switch (s) {
    case port_state::open:
      return "open";
    case port_state::closed:
      return "closed";
    case port_state::filtered:
      return "filtered";
    case port_state::open_filtered:
      return "open|filtered";
    case port_state::error:
      return "error";
  }
  return "?";
}

std::vector<std::uint16_t> parse_port_list(std::string_view spec, std::string_view protocol,
                                           std::error_code& ec, std::string* why) {
  std::vector<std::uint16_t> out;
  std::vector<bool> seen(65536, false);
  auto bad = [&](errc e, std::string text) {
    ec = make_error_code(e);
    if (why) *why = std::move(text);
    return std::vector<std::uint16_t>{};
  };
  auto add = [&](std::uint16_t p) {
    if (!seen[p]) {
      seen[p] = true;
      out.push_back(p);
    }
  };
  if (spec.empty()) return bad(errc::invalid_port, "empty port list");
  std::size_t pos = 0;
  while (pos <= spec.size()) {
    std::size_t comma = spec.find(',', pos);
    std::string_view item = spec.substr(pos, comma == std::string_view::npos ? comma : comma - pos);
    pos = comma == std::string_view::npos ? spec.size() + 1 : comma + 1;
    if (item.empty()) return bad(errc::invalid_port, "empty item in port list " + quote(spec));
    std::uint16_t lo = 0, hi = 0;
    if (auto dash = item.find('-'); dash != std::string_view::npos && dash != 0 &&
                                    parse_port_number(item.substr(0, dash), lo)) {
      if (!parse_port_number(item.substr(dash + 1), hi)) {
        return bad(errc::invalid_port, "range " + quote(item) + ": " +
                                           quote(item.substr(dash + 1)) +
                                           " is not a port number 1-65535");
      }
      if (lo > hi) {
        return bad(errc::invalid_port, "range " + quote(item) + " runs backwards");
      }
    } else if (parse_port_number(item, lo)) {
      hi = lo;
    } else if (std::any_of(item.begin(), item.end(),
                           [](char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; })) {
      auto entry = service_by_name(item, protocol);
      if (!entry) {
        return bad(errc::unknown_service, "unknown service " + quote(item) + " for " +
                                              std::string(protocol) + " (see /etc/services)");
      }
      lo = hi = entry->port;
    } else {
      return bad(errc::invalid_port, quote(item) + " is not a port number 1-65535");
    }
    if (lo == 0) return bad(errc::invalid_port, "port 0 cannot be probed: nothing listens on it");
    for (unsigned p = lo; p <= hi; ++p) add(static_cast<std::uint16_t>(p));
  }
  ec.clear();
  return out;
}

std::vector<probe_result> probe_ports(const ip_address& target,
                                      std::span<const std::uint16_t> ports,
                                      const probe_options& options) {
  std::vector<probe_result> results(ports.size());
  const unsigned limit = std::max(1u, options.concurrency);
  const int family = target.is_v4() ? AF_INET : AF_INET6;
  const int type = (options.udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
  std::vector<in_flight> active;
  std::vector<pollfd> fds;
  std::size_t next = 0;

  auto finish = [&](const in_flight& f, port_state st, int err) {
    auto& r = results[f.index];
    r.state = st;
    if (err != 0) r.error = {err, std::system_category()};
    r.elapsed = clock::now() - f.start;
    ::close(f.fd);
  };
  auto verdict_for = [&](int err) {
    if (err == 0) return port_state::open;
    if (err == ECONNREFUSED) return port_state::closed;
    return port_state::error;
  };

  for (std::size_t i = 0; i < ports.size(); ++i) results[i].port = ports[i];
  while (next < ports.size() || !active.empty()) {
    while (active.size() < limit && next < ports.size()) {
      in_flight f{-1, next, clock::now()};
      f.fd = ::socket(family, type, 0);
      if (f.fd < 0) {
        if ((errno == EMFILE || errno == ENFILE) && !active.empty()) break;  // wait for one
        results[next].state = port_state::error;
        results[next].error = {errno, std::system_category()};
        ++next;
        continue;
      }
      ++next;
      sockaddr_storage ss;
      socklen_t len = make_sockaddr(target, results[f.index].port, ss);
      int rc = ::connect(f.fd, reinterpret_cast<sockaddr*>(&ss), len);
      if (options.udp) {
        // A connected UDP socket reports the ICMP port-unreachable as ECONNREFUSED.
        if (rc == 0) rc = static_cast<int>(::send(f.fd, "", 0, 0));
        if (rc < 0) {
          finish(f, verdict_for(errno), errno == ECONNREFUSED ? 0 : errno);
          continue;
        }
      } else if (rc == 0 || errno != EINPROGRESS) {
        int err = rc == 0 ? 0 : errno;
        finish(f, verdict_for(err), err == ECONNREFUSED ? 0 : err);
        continue;
      }
      active.push_back(f);
    }
    if (active.empty()) continue;
    const auto now = clock::now();
    auto wait = options.timeout;
    fds.clear();
    for (const auto& f : active) {
      fds.push_back({f.fd, static_cast<short>(options.udp ? POLLIN : POLLOUT), 0});
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          f.start + options.timeout - now + std::chrono::microseconds(999));
      wait = std::min(wait, std::max(left, std::chrono::milliseconds(0)));
    }
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    if (n < 0 && errno != EINTR) {
      for (const auto& f : active) finish(f, port_state::error, errno);
      active.clear();
      continue;
    }
    const auto after = clock::now();
    std::vector<in_flight> still;
    for (std::size_t k = 0; k < active.size(); ++k) {
      const auto& f = active[k];
      if (n > 0 && fds[k].revents != 0) {
        int err = 0;
        if (options.udp) {
          char byte;
          if (::recv(f.fd, &byte, 1, 0) < 0) err = errno;
          if (err == EAGAIN || err == EWOULDBLOCK) {
            still.push_back(f);
            continue;
          }
        } else {
          socklen_t len = sizeof err;
          ::getsockopt(f.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        }
        finish(f, verdict_for(err), err == ECONNREFUSED ? 0 : err);
      } else if (after - f.start >= options.timeout) {
        finish(f, options.udp ? port_state::open_filtered : port_state::filtered, 0);
      } else {
        still.push_back(f);
      }
    }
    active.swap(still);
  }
  return results;
}

}  // namespace sockit::net
