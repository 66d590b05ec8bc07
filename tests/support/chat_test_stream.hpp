// chat_test_stream: an in-memory Asio AsyncStream for the chat session tests. Reads are
// cut short to `max_read` bytes (one byte by default: short reads are the normal case),
// writes to `max_write` bytes, and writes can be held to model a peer that stops reading.
#pragma once

#include <algorithm>
#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

namespace sockit::test {

/// Single-threaded: use on its executor only.
class chat_test_stream {
 public:
  using executor_type = asio::any_io_executor;

  explicit chat_test_stream(executor_type ex) : ex_(std::move(ex)) {}
  executor_type get_executor() const { return ex_; }

  std::string input;              // bytes still to be read
  bool input_eof = true;          // after `input` runs out: EOF (true) or hang (false)
  std::size_t max_read = 1;       // bytes per read_some
  std::size_t max_write = 1;      // bytes per write_some
  bool hold_writes = false;       // writes wait until release_writes()
  std::string output;             // everything written
  std::size_t write_calls = 0;    // write_some calls that completed
  std::error_code write_error;    // when set, every write fails with it
  bool sync_writes = false;       // non_blocking(): lets write_queue::push write directly
  std::size_t sync_attempts = 0;  // synchronous write_some calls

  bool non_blocking() const noexcept { return sync_writes; }

  /// The synchronous, non-blocking write: would_block while writes are held.
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, std::error_code& ec) {
    ++sync_attempts;
    if (write_error) {
      ec = write_error;
      return 0;
    }
    if (hold_writes) {
      ec = asio::error::would_block;
      return 0;
    }
    std::string data(asio::buffer_size(buffers), '\0');
    asio::buffer_copy(asio::buffer(data), buffers);
    std::size_t n = std::min(data.size(), max_write);
    output.append(data, 0, n);
    ++write_calls;
    ec.clear();
    return n;
  }

  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [this](auto handler, const MutableBufferSequence& bufs) {
          std::size_t n = 0;
          std::error_code ec;
          if (input.empty()) {
            if (!input_eof) {
              // Hang until destroyed, like a silent peer.
              auto h = std::make_shared<decltype(handler)>(std::move(handler));
              pending_read_ = [h](std::error_code e) { (*h)(e, 0); };
              return;
            }
            ec = asio::error::eof;
          } else {
            std::size_t want = std::min({asio::buffer_size(bufs), max_read, input.size()});
            n = asio::buffer_copy(bufs, asio::buffer(input.data(), want));
            input.erase(0, n);
          }
          asio::post(ex_, [h = std::move(handler), ec, n]() mutable { h(ec, n); });
        },
        token, buffers);
  }

  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [this](auto handler, const ConstBufferSequence& bufs) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          // Copy the bytes now: the caller's buffers stay valid until completion anyway.
          std::string data(asio::buffer_size(bufs), '\0');
          asio::buffer_copy(asio::buffer(data), bufs);
          auto complete = [this, h, data = std::move(data)]() {
            if (write_error) {
              (*h)(write_error, 0);
              return;
            }
            std::size_t n = std::min(data.size(), max_write);
            output.append(data, 0, n);
            ++write_calls;
            (*h)(std::error_code{}, n);
          };
          if (hold_writes) {
            held_write_ = complete;
          } else {
            asio::post(ex_, complete);
          }
        },
        token, buffers);
  }

  /// Completes a held write (and lets later writes through).
  void release_writes() {
    hold_writes = false;
    if (held_write_) asio::post(ex_, std::exchange(held_write_, {}));
  }
  bool write_held() const noexcept { return static_cast<bool>(held_write_); }

  /// Completes a hanging read with operation_aborted (what closing a socket does).
  void cancel_read() {
    if (pending_read_) {
      auto f = std::exchange(pending_read_, {});
      asio::post(ex_, [f] { f(asio::error::operation_aborted); });
    }
  }

 private:
  executor_type ex_;
  std::function<void()> held_write_;
  std::function<void(std::error_code)> pending_read_;
};

}  // namespace sockit::test
