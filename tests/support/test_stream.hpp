// test_stream: an in-memory Asio AsyncReadStream + AsyncWriteStream for session tests, in
// the spirit of Asio's own unit-test test_stream: reads deliver at most next_read_length()
// bytes (one byte at a time when asked), writes accept at most next_write_length() bytes,
// and a test can make reads wait, writes stall, or either fail with a chosen error.
#pragma once

#include <algorithm>
#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace sockit::test {

class test_stream {
 public:
  using executor_type = asio::any_io_executor;

  explicit test_stream(executor_type ex) : executor_(std::move(ex)) {}
  test_stream(const test_stream&) = delete;
  test_stream& operator=(const test_stream&) = delete;

  executor_type get_executor() noexcept { return executor_; }

  // --- what the stream will deliver to readers -------------------------------------------
  /// Appends bytes for readers; completes a waiting read.
  void append_input(std::string_view data) {
    input_.append(data);
    complete_pending_read();
  }
  /// Once the input is drained, reads complete with `ec` (EOF by default). Completes a
  /// waiting read.
  void close_input(std::error_code ec = asio::error::eof) {
    input_end_ = ec;
    complete_pending_read();
  }
  /// Every read delivers at most `n` bytes (1 = one byte at a time). Sticky, like Asio's.
  void next_read_length(std::size_t n) { read_length_ = std::max<std::size_t>(n, 1); }

  // --- how the stream treats writers ------------------------------------------------------
  /// Every write_some accepts at most `n` bytes (a short write). Sticky.
  void next_write_length(std::size_t n) { write_length_ = std::max<std::size_t>(n, 1); }
  /// Once `after` more bytes have been accepted, writes fail with `ec`.
  void fail_writes(std::error_code ec, std::size_t after = 0) {
    write_error_ = ec;
    write_budget_ = after;
  }
  /// While held, a write stays pending (a peer that stops reading). Releasing completes it.
  void hold_writes(bool hold) {
    hold_writes_ = hold;
    if (!hold) complete_pending_write();
  }

  // --- what a test can inspect -----------------------------------------------------------
  const std::string& output() const noexcept { return output_; }
  std::size_t input_left() const noexcept { return input_.size() - input_pos_; }
  bool read_pending() const noexcept { return pending_read_ != nullptr; }
  bool write_pending() const noexcept { return pending_write_ != nullptr; }
  std::size_t read_calls() const noexcept { return read_calls_; }
  std::size_t write_calls() const noexcept { return write_calls_; }
  /// The largest buffer any single read or write asked for: what a session would hold.
  std::size_t largest_read_request() const noexcept { return largest_read_; }
  std::size_t largest_write_request() const noexcept { return largest_write_; }

  template <class MutableBufferSequence, class ReadToken>
  auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
    return asio::async_initiate<ReadToken, void(std::error_code, std::size_t)>(
        [this](auto handler, const MutableBufferSequence& bufs) {
          ++read_calls_;
          std::vector<asio::mutable_buffer> copy(asio::buffer_sequence_begin(bufs),
                                                 asio::buffer_sequence_end(bufs));
          largest_read_ = std::max(largest_read_, asio::buffer_size(copy));
          auto pending = make_op(std::move(handler), std::move(copy));
          start_read(std::move(pending));
        },
        token, buffers);
  }

  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    return asio::async_initiate<WriteToken, void(std::error_code, std::size_t)>(
        [this](auto handler, const ConstBufferSequence& bufs) {
          ++write_calls_;
          auto pending = make_write_op(std::move(handler), bufs);
          largest_write_ = std::max(largest_write_, pending->data.size());
          start_write(std::move(pending));
        },
        token, buffers);
  }

 private:
  // A stored completion: the handler, posted to its associated executor when completed.
  struct op_base {
    virtual ~op_base() = default;
    /// `from_cancellation`: called by the handler's own cancellation slot, which must not be
    /// cleared from inside its handler.
    virtual void complete(std::error_code ec, std::size_t n, bool from_cancellation = false) = 0;
    /// Routes a cancellation request for the waiting handler to cancel_pending().
    virtual void arm_cancellation(test_stream* stream, bool read) = 0;
  };
  struct read_op_base : op_base {
    std::vector<asio::mutable_buffer> buffers;
  };
  struct write_op_base : op_base {
    std::string data;  // a copy: the writer's buffer must stay valid anyway
  };

  template <class Base, class Handler>
  struct op final : Base {
    Handler handler;
    executor_type fallback;
    op(Handler h, executor_type ex) : handler(std::move(h)), fallback(std::move(ex)) {}
    void complete(std::error_code ec, std::size_t n, bool from_cancellation) override {
      auto slot = asio::get_associated_cancellation_slot(handler);
      if (slot.is_connected() && !from_cancellation) slot.clear();
      auto ex = asio::get_associated_executor(handler, fallback);
      asio::post(ex, [h = std::move(handler), ec, n]() mutable { std::move(h)(ec, n); });
    }
    void arm_cancellation(test_stream* stream, bool read) override {
      auto slot = asio::get_associated_cancellation_slot(handler);
      if (!slot.is_connected()) return;
      slot.assign([stream, read](asio::cancellation_type) { stream->cancel_pending(read); });
    }
  };

  template <class Handler>
  std::unique_ptr<read_op_base> make_op(Handler handler, std::vector<asio::mutable_buffer> bufs) {
    auto p = std::make_unique<op<read_op_base, Handler>>(std::move(handler), executor_);
    p->buffers = std::move(bufs);
    return p;
  }

  template <class Handler, class ConstBufferSequence>
  std::unique_ptr<write_op_base> make_write_op(Handler handler, const ConstBufferSequence& bufs) {
    auto p = std::make_unique<op<write_op_base, Handler>>(std::move(handler), executor_);
    p->data.resize(asio::buffer_size(bufs));
    asio::buffer_copy(asio::buffer(p->data), bufs);
    return p;
  }

  // Cancellation (e.g. the loser of an awaitable `||`) completes a waiting op with
  // operation_aborted, as a real socket does.
  void cancel_pending(bool read) {
    std::unique_ptr<op_base> o;
    if (read) {
      o = std::move(pending_read_);
    } else {
      o = std::move(pending_write_);
    }
    if (o) o->complete(asio::error::operation_aborted, 0, true);
  }

  void start_read(std::unique_ptr<read_op_base> o) {
    if (input_left() > 0 || input_end_) {
      finish_read(std::move(o));
      return;
    }
    o->arm_cancellation(this, true);
    pending_read_ = std::move(o);
  }

  void finish_read(std::unique_ptr<read_op_base> o) {
    std::size_t want = std::min(asio::buffer_size(o->buffers), read_length_);
    if (want == 0) {  // a zero-length read completes at once, as on a socket
      o->complete({}, 0);
      return;
    }
    if (input_left() == 0) {
      o->complete(input_end_, 0);
      return;
    }
    std::size_t n = asio::buffer_copy(
        o->buffers, asio::buffer(input_.data() + input_pos_, std::min(want, input_left())));
    input_pos_ += n;
    o->complete({}, n);
  }

  void complete_pending_read() {
    if (pending_read_ && (input_left() > 0 || input_end_)) finish_read(std::move(pending_read_));
  }

  void start_write(std::unique_ptr<write_op_base> o) {
    if (hold_writes_) {
      o->arm_cancellation(this, false);
      pending_write_ = std::move(o);
      return;
    }
    finish_write(std::move(o));
  }

  void finish_write(std::unique_ptr<write_op_base> o) {
    std::size_t n = std::min(o->data.size(), write_length_);
    if (write_error_) {
      if (write_budget_ == 0) {
        o->complete(write_error_, 0);
        return;
      }
      n = std::min(n, write_budget_);
      write_budget_ -= n;
    }
    output_.append(o->data, 0, n);
    o->complete({}, n);
  }

  void complete_pending_write() {
    if (pending_write_) finish_write(std::move(pending_write_));
  }

 public:
  /// Completes waiting operations with operation_aborted (what cancel() does on a socket).
  void cancel() {
    if (auto o = std::move(pending_read_)) o->complete(asio::error::operation_aborted, 0);
    if (auto o = std::move(pending_write_)) o->complete(asio::error::operation_aborted, 0);
  }

 private:
  executor_type executor_;
  std::string input_;
  std::size_t input_pos_ = 0;
  std::error_code input_end_;
  std::size_t read_length_ = static_cast<std::size_t>(-1);
  std::size_t write_length_ = static_cast<std::size_t>(-1);
  std::error_code write_error_;
  std::size_t write_budget_ = 0;
  bool hold_writes_ = false;
  std::string output_;
  std::unique_ptr<read_op_base> pending_read_;
  std::unique_ptr<write_op_base> pending_write_;
  std::size_t read_calls_ = 0, write_calls_ = 0, largest_read_ = 0, largest_write_ = 0;
};

}  // namespace sockit::test
