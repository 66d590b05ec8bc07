// Micro-benchmarks for codec/: decoding pipelined 64-byte frames from one buffer (the
// parser alone, and whole frames), encoding, and the header depth scan.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "sockit/codec/frame.hpp"

namespace {

std::string pipelined(std::size_t frame_size, std::size_t count) {
  std::string one;
  for (std::size_t body = frame_size; body > 0; --body) {
    one = sockit::codec::encode(nlohmann::json{{"op", "data"}}, std::string(body, 'x'));
    if (one.size() <= frame_size) break;
  }
  std::string all;
  for (std::size_t i = 0; i < count; ++i) all += one;
  return all;
}

void parser_64b(benchmark::State& state) {
  std::string wire = pipelined(64, 4096);
  std::size_t frames = 0;
  for (auto _ : state) {
    sockit::codec::parser p;
    std::string_view in(wire);
    for (;;) {
      auto ev = p.next(in);
      if (ev == sockit::codec::parser::event::need_more) break;
      if (ev == sockit::codec::parser::event::frame_end) ++frames;
    }
  }
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(frames), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(parser_64b);

void decoder_64b(benchmark::State& state) {
  std::string wire = pipelined(64, 4096);
  std::vector<sockit::codec::frame> out;
  out.reserve(4096);
  std::size_t frames = 0;
  for (auto _ : state) {
    sockit::codec::decoder d;
    std::error_code ec;
    out.clear();
    d.feed(wire, out, ec);
    frames += out.size();
  }
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(frames), benchmark::Counter::kIsRate);
}
BENCHMARK(decoder_64b);

void encode_64b(benchmark::State& state) {
  std::string out;
  std::string body(30, 'x');
  nlohmann::json h{{"op", "data"}, {"id", 1}};
  for (auto _ : state) {
    out.clear();
    sockit::codec::append_frame(out, h, body);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(encode_64b);

void depth_scan(benchmark::State& state) {
  std::string text = R"({"op":"put","id":12,"name":"a/b/c.txt","size":123,"meta":{"k":[1,2,3]}})";
  for (auto _ : state) benchmark::DoNotOptimize(sockit::codec::json_depth(text, 16));
}
BENCHMARK(depth_scan);

}  // namespace
