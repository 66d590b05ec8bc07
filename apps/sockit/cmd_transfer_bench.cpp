// sockit bench frames: pipelined small frames per second through the real frame reader
// (session::frame_reader over a loopback TCP socket, called as sockit serve calls it: the
// opening, then read_header and read_body under a deadline), with a sender thread writing
// pre-encoded frames back to back.
#include <fmt/format.h>
#include <sys/socket.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "commands.hpp"
#include "output.hpp"
#include "sockit/codec/frame.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/session/frame_io.hpp"

namespace sockit::cli {
namespace {

struct bench_frames_options {
  double seconds = 3;
  std::size_t frame_size = 64;
  bool json = false;
};

using stream_socket =
    asio::basic_stream_socket<asio::generic::stream_protocol, asio::io_context::executor_type>;

int run_bench_frames(const bench_frames_options& o) {
  // One frame of exactly frame_size bytes: 4-byte length + header + body filler.
  std::string header_only = codec::encode(nlohmann::json{{"op", "data"}, {"size", 0}});
  if (o.frame_size < header_only.size() + 8) {
    throw std::invalid_argument(
        fmt::format("--frame-size must be at least {}", header_only.size() + 8));
  }
  std::string one;
  for (std::size_t body = o.frame_size - header_only.size(); body > 0; --body) {
    one = codec::encode(nlohmann::json{{"op", "data"}}, std::string(body, 'x'));
    if (one.size() <= o.frame_size) break;
  }
  std::string batch;
  while (batch.size() < 256 * 1024) batch += one;
  const std::uint64_t frames_per_batch = batch.size() / one.size();

  std::error_code ec;
  std::string why;
  auto listener = net::socket::listen(net::endpoint::parse("127.0.0.1:0"), ec, &why);
  if (ec) throw std::runtime_error(why);
  auto client = net::socket::connect(listener.local_address().to_endpoint(), ec, &why);
  if (ec) throw std::runtime_error(why);
  auto server = listener.accept(nullptr, ec);
  if (ec) throw std::runtime_error(ec.message());

  std::atomic<bool> stop{false};
  std::uint64_t sent_batches = 0;
  std::thread sender([&] {
    std::error_code sec;
    client.send_all(net::as_bytes(std::string_view(codec::magic.data(), codec::magic.size())), sec);
    while (!stop.load(std::memory_order_relaxed)) {
      client.send_all(net::as_bytes(batch), sec);
      if (sec) break;
      ++sent_batches;
    }
    client.shutdown_write(sec);
  });

  asio::io_context io(1);
  stream_socket sock(io);
  sock.assign(asio::generic::stream_protocol(AF_INET, IPPROTO_TCP), server.release());
  std::uint64_t frames = 0, bytes = 0;
  auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // As the server reads: a deadline armed per header and body read, the opening first,
        // then read_header and read_body (session::frame_reader, transfer_server.cpp).
        session::deadline d;
        session::frame_reader<stream_socket> reader(sock, codec::limits{}, &d);
        codec::format fmt{};
        const bool opened = !co_await reader.read_opening(fmt);
        codec::frame_header h;
        auto end = t0 + std::chrono::duration<double>(o.seconds);
        for (; opened;) {
          if (co_await reader.read_header(h)) break;
          while (reader.body_left() > 0) {
            auto [rec, piece] = co_await reader.read_body();
            if (rec) break;
            bytes += piece.size();
          }
          // Check the clock every 4096 frames only: it is not free at millions per second.
          if ((++frames & 4095) == 0 && std::chrono::steady_clock::now() >= end) break;
        }
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        stop = true;
        // Drain until the sender's half-close so it never blocks on a full socket.
        std::vector<char> sink(1 << 16);
        for (;;) {
          auto [rec, n] = co_await sock.async_read_some(
              asio::buffer(sink), asio::experimental::as_tuple(asio::use_awaitable));
          if (rec) break;
        }
      },
      asio::detached);
  io.run();
  sender.join();
  double rate = elapsed > 0 ? static_cast<double>(frames) / elapsed : 0;
  if (o.json) {
    print_json({{"event", "result"},
                {"frames", frames},
                {"frame_size", one.size()},
                {"seconds", elapsed},
                {"frames_per_second", rate},
                {"body_bytes", bytes},
                {"frames_per_batch", frames_per_batch}});
  } else {
    print_line(fmt::format("{} frames of {} bytes in {:.2f} s: {} frames/s", frames, one.size(),
                           elapsed, human_count(rate)));
  }
  return 0;
}

}  // namespace

// A subcommand of `bench`: commands.cpp sets it up after setup_bench.
void setup_bench_frames(CLI::App& app, int& exit_code) {
  auto* bench = app.get_subcommand("bench");
  auto o = std::make_shared<bench_frames_options>();
  auto* cmd = bench->add_subcommand(
      "frames", "Pipelined small frames per second through sockit's frame reader (loopback)");
  cmd->add_option("-d,--seconds", o->seconds, "How long to measure")->capture_default_str();
  cmd->add_option("-s,--frame-size", o->frame_size, "Bytes per frame, prefix and header included")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "One JSON result line");
  cmd->callback([o, &exit_code] { exit_code = run_bench_frames(*o); });
}

}  // namespace sockit::cli
