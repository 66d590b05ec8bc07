// The framed-protocol console behind `sockit connect --framed` (see cmd_framed.cpp).
#pragma once

#include <cstdint>
#include <string>

namespace sockit::cli {

struct framed_options {
  bool base64 = false;                 // print received bodies as base64
  std::string save_dir;                // or save each body to DIR/frame-N.bin
  std::uint64_t max_body = 64u << 20;  // larger bodies are a protocol error here
};

/// Runs the console until the peer closes; returns the exit status.
int run_framed(const std::string& endpoint, const framed_options& o);

}  // namespace sockit::cli
