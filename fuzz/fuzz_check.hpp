// What the fuzz targets share: a property check that names the property it found broken
// (libFuzzer then saves the input that broke it), and the input as text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace sockit_fuzz {

[[noreturn]] inline void broken(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: property broken: %s\n", file, line, what);
  std::abort();
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace sockit_fuzz

#define FUZZ_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::sockit_fuzz::broken(#cond, __FILE__, __LINE__))
