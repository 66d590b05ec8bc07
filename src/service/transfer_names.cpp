// transfer_names: which names a peer may use (safe components, the seeds' classic file_name)
// and the names of partial files. Pure string work, no filesystem access: the fuzzers link it.
#include "sockit/service/transfer_names.hpp"

#include <string>

#include "sockit/service/transfer_error.hpp"
#include "sockit/service/transfer_hash.hpp"

namespace sockit::service {
namespace {

constexpr std::string_view partial_suffix = ".sockit-part";

bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = cp << 6 | (d & 0x3F);
    }
    // Overlong forms, surrogates and out-of-range code points are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace

bool is_safe_component(std::string_view c) noexcept {
  if (c.empty() || c.size() > 255 || c == "." || c == "..") return false;
  for (char ch : c) {
    auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7F || ch == '/' || ch == '\\') return false;
  }
  // "C:" drive letters, and ':' generally (alternate data streams on Windows peers).
  if (c.find(':') != std::string_view::npos) return false;
  if (is_partial_name(c)) return false;
  return valid_utf8(c);
}

std::vector<std::string> split_safe_name(std::string_view name, std::error_code& ec) {
  ec.clear();
  std::vector<std::string> parts;
  if (name.empty() || name.size() > 4096 || name.front() == '/') {
    ec = transfer_errc::unsafe_name;
    return {};
  }
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = name.find('/', start);
    std::string_view c =
        name.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (!is_safe_component(c)) {
      ec = transfer_errc::unsafe_name;
      return {};
    }
    parts.emplace_back(c);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

std::string classic_safe_name(std::string_view file_name, std::error_code& ec) {
  ec.clear();
  std::size_t cut = file_name.find_last_of("/\\");
  std::string_view base = cut == std::string_view::npos ? file_name : file_name.substr(cut + 1);
  if (!is_safe_component(base)) {
    ec = transfer_errc::unsafe_name;
    return {};
  }
  return std::string(base);
}

std::string partial_name(std::string_view base) {
  // A base too long for "." + base + suffix keeps a prefix, then ':' and 128 bits of its
  // SHA-256. ':' never occurs in a valid name (is_safe_component), so no short name maps to
  // a long name's partial; SHA-256, not XXH3, so a peer cannot make two long names collide
  // (XXH3 is not collision-resistant, and 64 bits of anything fall to a birthday search).
  constexpr std::size_t name_max = 255, tag = 1 + 32;  // ":" + 32 hex digits
  std::string s = ".";
  if (1 + base.size() + partial_suffix.size() <= name_max) {
    s += base;
  } else {
    std::size_t keep = name_max - 1 - tag - partial_suffix.size();
    // Back up to the start of a UTF-8 sequence, so the shortened name stays valid UTF-8.
    while (keep > 0 && (static_cast<unsigned char>(base[keep]) & 0xC0) == 0x80) --keep;
    hasher h(hash_algorithm::sha256);
    h.update(base);
    s += base.substr(0, keep);
    s += ':';
    s += h.hex().substr(0, 32);
  }
  s += partial_suffix;
  return s;
}

bool is_partial_name(std::string_view name) noexcept {
  return name.size() > partial_suffix.size() + 1 && name.front() == '.' &&
         name.substr(name.size() - partial_suffix.size()) == partial_suffix;
}

}  // namespace sockit::service
