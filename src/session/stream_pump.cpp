// stream_pump: splice(2) through a pipe, driven by readiness waits on the loop; a plain
// read/write loop when splicing is off or not possible.
#include "sockit/session/stream_pump.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <vector>

#include "sockit/net/unique_fd.hpp"

namespace sockit::session {
namespace {

constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);

std::error_code last_error() { return {errno, std::system_category()}; }

void end_sending(stream_socket& to) {
  std::error_code ignored;
  to.shutdown(asio::socket_base::shutdown_send, ignored);
}

asio::awaitable<pump_result> pump_buffered(stream_socket& from, stream_socket& to,
                                           std::size_t buffer_size, const pump_tap* tap = nullptr) {
  pump_result r;
  std::vector<char> buf(buffer_size);
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buf), token);
    if (ec == asio::error::eof) {
      end_sending(to);
      co_return r;
    }
    if (ec) {
      r.error = ec;
      co_return r;
    }
    if (tap != nullptr) (*tap)(r.bytes, std::as_bytes(std::span(buf.data(), n)));
    auto [wec, written] = co_await asio::async_write(to, asio::buffer(buf.data(), n), token);
    r.bytes += written;
    if (wec) {
      r.error = wec;
      co_return r;
    }
  }
}

}  // namespace

asio::awaitable<pump_result> pump(stream_socket& from, stream_socket& to, bool zero_copy,
                                  std::size_t buffer_size) {
  if (!zero_copy) co_return co_await pump_buffered(from, to, buffer_size);
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
    co_return co_await pump_buffered(from, to, buffer_size);
  net::unique_fd pipe_out(fds[0]), pipe_in(fds[1]);
  // The pipe's capacity is what this direction holds in flight (64 KiB unless the system's
  // default differs): bytes in the pipe are kernel pages, counted, never user memory.
  const int got = ::fcntl(pipe_in.get(), F_GETPIPE_SZ);
  const std::size_t capacity = got > 0 ? static_cast<std::size_t>(got) : 65536;
  constexpr unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
  pump_result r;
  std::size_t in_pipe = 0;
  bool eof = false, first = true;
  for (;;) {
    bool source_dry = eof;
    if (!eof && in_pipe < capacity) {
      ssize_t n = ::splice(from.native_handle(), nullptr, pipe_in.get(), nullptr,
                           capacity - in_pipe, flags);
      if (n > 0) {
        in_pipe += static_cast<std::size_t>(n);
      } else if (n == 0) {
        eof = source_dry = true;
      } else if (errno == EAGAIN) {
        source_dry = true;
      } else if (errno == EINVAL && first) {
        co_return co_await pump_buffered(from, to, buffer_size);  // not spliceable
      } else if (errno != EINTR) {
        r.error = last_error();
        co_return r;
      }
      first = false;
    }
    bool sink_full = false;
    if (in_pipe > 0) {
      ssize_t m = ::splice(pipe_out.get(), nullptr, to.native_handle(), nullptr, in_pipe, flags);
      if (m > 0) {
        in_pipe -= static_cast<std::size_t>(m);
        r.bytes += static_cast<std::uint64_t>(m);
      } else if (m < 0 && errno == EAGAIN) {
        sink_full = true;
      } else if (m < 0 && errno != EINTR) {
        r.error = last_error();
        co_return r;
      }
    }
    if (eof && in_pipe == 0) {
      end_sending(to);
      co_return r;
    }
    // Wait only when nothing can move: the sink is full (its turn) or the source is dry
    // and the pipe is empty.
    if (sink_full) {
      auto [ec] = co_await to.async_wait(asio::socket_base::wait_write, token);
      if (ec) {
        r.error = ec;
        co_return r;
      }
    } else if (source_dry && in_pipe == 0) {
      auto [ec] = co_await from.async_wait(asio::socket_base::wait_read, token);
      if (ec) {
        r.error = ec;
        co_return r;
      }
    }
  }
}

asio::awaitable<pump_result> pump(stream_socket& from, stream_socket& to, const pump_tap& tap,
                                  std::size_t buffer_size) {
  co_return co_await pump_buffered(from, to, buffer_size, &tap);
}

}  // namespace sockit::session
