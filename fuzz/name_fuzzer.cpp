// libFuzzer target for the transfer name validators: an accepted name never has an empty,
// "." or ".." component, a '/', '\\', ':', NUL or other control byte, invalid UTF-8 or a
// partial-file name in it, and its components join back to exactly the name.
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "sockit/net/error.hpp"
#include "sockit/service/transfer_error.hpp"
#include "sockit/service/transfer_names.hpp"

namespace {

using sockit::service::classic_safe_name;
using sockit::service::is_partial_name;
using sockit::service::is_safe_component;
using sockit::service::partial_name;
using sockit::service::split_safe_name;

// Well-formed UTF-8 by the Unicode standard's Table 3-7 (byte ranges), written apart from
// transfer_fs's decoder so the two check each other.
bool utf8_by_table(std::string_view s) {
  std::size_t i = 0;
  auto in = [&](std::size_t k, unsigned lo, unsigned hi) {
    if (k >= s.size()) return false;
    const unsigned b = static_cast<unsigned char>(s[k]);
    return b >= lo && b <= hi;
  };
  while (i < s.size()) {
    const unsigned b = static_cast<unsigned char>(s[i]);
    if (b <= 0x7f) {
      i += 1;
    } else if (b >= 0xc2 && b <= 0xdf) {
      if (!in(i + 1, 0x80, 0xbf)) return false;
      i += 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      const unsigned lo = b == 0xe0 ? 0xa0 : 0x80, hi = b == 0xed ? 0x9f : 0xbf;
      if (!in(i + 1, lo, hi) || !in(i + 2, 0x80, 0xbf)) return false;
      i += 3;
    } else if (b >= 0xf0 && b <= 0xf4) {
      const unsigned lo = b == 0xf0 ? 0x90 : 0x80, hi = b == 0xf4 ? 0x8f : 0xbf;
      if (!in(i + 1, lo, hi) || !in(i + 2, 0x80, 0xbf) || !in(i + 3, 0x80, 0xbf)) return false;
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

// The rule for one component, restated from the header's contract.
bool component_ok(std::string_view c) {
  if (c.empty() || c.size() > 255 || c == "." || c == "..") return false;
  for (char ch : c) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f || ch == '/' || ch == '\\' || ch == ':') return false;
  }
  if (c.size() > 13 && c.front() == '.' && c.ends_with(".sockit-part")) return false;
  return utf8_by_table(c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view name = sockit_fuzz::as_text(data, size);

  std::error_code ec;
  const std::vector<std::string> parts = split_safe_name(name, ec);
  bool expect = !name.empty() && name.size() <= 4096;
  for (std::size_t start = 0; expect;) {
    const std::size_t slash = name.find('/', start);
    expect =
        component_ok(name.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  FUZZ_CHECK(!ec == expect);
  if (ec) {
    FUZZ_CHECK(ec == sockit::service::transfer_errc::unsafe_name && parts.empty());
  } else {
    FUZZ_CHECK(!parts.empty());
    std::string joined;
    for (const auto& p : parts) {
      FUZZ_CHECK(is_safe_component(p) && component_ok(p));
      FUZZ_CHECK(p != "." && p != ".." && !p.empty());
      FUZZ_CHECK(p.find_first_of(std::string_view("/\\:\0", 4)) == std::string::npos);
      FUZZ_CHECK(!is_partial_name(p));
      if (!joined.empty()) joined += '/';
      joined += p;
    }
    FUZZ_CHECK(joined == name);
  }

  // Each component on its own, as a server checks a listing entry.
  FUZZ_CHECK(is_safe_component(name) == component_ok(name));

  // classic: the last component after '/' or '\\' is the name, and it is safe.
  const std::string base = classic_safe_name(name, ec);
  const std::size_t cut = name.find_last_of("/\\");
  const std::string_view want = cut == std::string_view::npos ? name : name.substr(cut + 1);
  FUZZ_CHECK(!ec == component_ok(want));
  if (!ec) FUZZ_CHECK(base == want);
  if (ec) FUZZ_CHECK(base.empty());

  // A partial file's name is never a name a peer may use.
  if (component_ok(name) && name.size() <= 240) {
    const std::string partial = partial_name(name);
    FUZZ_CHECK(is_partial_name(partial) && !is_safe_component(partial));
  }
  return 0;
}
