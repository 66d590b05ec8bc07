// Address parsing (strict inet_pton / Python ipaddress rules, and glibc's inet_aton) and
// RFC 5952 formatting. The parsers never allocate unless asked for an explanation.
// Longer than 500 lines on purpose: it is the whole of include/sockit/net/address.hpp's three
// value types, and their parsers share the digit, hextet and explanation helpers below.
#include "sockit/net/address.hpp"

#include <algorithm>
#include <string>

#include "sockit/net/error.hpp"
#include "text_util.hpp"

namespace sockit::net {
namespace {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Sets *why (when asked) and returns false, so failures read `return fail(why, ...)`.
template <typename... Parts>
bool fail(std::string* why, const Parts&... parts) {
  if (why) {
    why->clear();
    (why->append(parts), ...);
  }
  return false;
}

std::string num(unsigned long long v) { return std::to_string(v); }

// One pass, no explanation: the common, valid case. parse_v4_strict says why on failure.
bool parse_v4_fast(std::string_view text, std::uint32_t& out) noexcept {
  std::uint32_t value = 0;
  unsigned octets = 0, digits = 0, octet = 0;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      if (digits == 1 && octet == 0) return false;  // leading zero
      octet = octet * 10 + static_cast<unsigned>(c - '0');
      if (++digits > 3 || octet > 255) return false;
    } else if (c == '.' && digits != 0 && octets < 3) {
      value = value << 8 | octet;
      ++octets;
      digits = octet = 0;
    } else {
      return false;
    }
  }
  if (octets != 3 || digits == 0) return false;
  out = value << 8 | octet;
  return true;
}

bool parse_v4_strict(std::string_view text, std::uint32_t& out, std::string* why) {
  if (parse_v4_fast(text, out)) return true;
  if (text.empty()) return fail(why, "empty address");
  std::uint32_t value = 0;
  unsigned part = 0;
  std::size_t pos = 0;
  while (true) {
    std::size_t dot = text.find('.', pos);
    std::string_view octet = text.substr(pos, dot == std::string_view::npos ? dot : dot - pos);
    ++part;
    if (part > 4) {
      return fail(why, "more than 4 octets (an IPv4 address is exactly a.b.c.d)");
    }
    if (octet.empty()) return fail(why, "octet ", num(part), " is empty");
    if (!std::all_of(octet.begin(), octet.end(), is_digit)) {
      return fail(why, "octet ", num(part), " (", quote(octet), ") is not a decimal number");
    }
    if (octet.size() > 1 && octet[0] == '0') {
      return fail(why, "octet ", num(part), " (", quote(octet),
                  ") has a leading zero, which inet_aton would read as octal");
    }
    if (octet.size() > 3) return fail(why, "octet ", num(part), " (", quote(octet), ") > 255");
    unsigned v = 0;
    for (char c : octet) v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > 255) return fail(why, "octet ", num(part), " is ", num(v), ", more than 255");
    value = value << 8 | v;
    if (dot == std::string_view::npos) break;
    pos = dot + 1;
  }
  if (part != 4) {
    return fail(why, "expected 4 octets a.b.c.d, got ", num(part),
                " (short forms like 127.1 are inet_aton's; parse them as such)");
  }
  out = value;
  return true;
}

// glibc inet_aton (resolv/inet_addr.c): parts as strtoul(base 0) reads them, the last part
// filling the remaining bytes, trailing text allowed after an ASCII space.
bool parse_v4_aton(std::string_view text, std::uint32_t& out, std::string* why) {
  static constexpr std::uint32_t max_last[4] = {0xffffffffu, 0xffffffu, 0xffffu, 0xffu};
  if (text.find('\0') != std::string_view::npos) return fail(why, "contains a NUL byte");
  std::uint32_t bytes = 0;
  unsigned stored = 0;  // parts before the last
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return k < text.size() ? text[k] : '\0'; };
  unsigned long long val = 0;
  while (true) {
    if (!is_digit(at(i))) {
      if (i >= text.size()) {
        return fail(why, stored == 0 ? "empty address" : "missing number after '.'");
      }
      return fail(why, "expected a digit at position ", num(i + 1), ", found ",
                  quote(text.substr(i, 1)));
    }
    std::size_t start = i;
    unsigned base = 10;
    if (at(i) == '0' && (at(i + 1) == 'x' || at(i + 1) == 'X') && hex_value(at(i + 2)) >= 0) {
      base = 16;
      i += 2;
    } else if (at(i) == '0') {
      base = 8;
    }
    val = 0;
    bool overflow = false;
    while (true) {
      int d = hex_value(at(i));
      if (d < 0 || static_cast<unsigned>(d) >= base) break;
      val = val * base + static_cast<unsigned>(d);
      if (val > 0xffffffffull) overflow = true, val = 0x100000000ull;
      ++i;
    }
    std::string_view part = text.substr(start, i - start);
    if (overflow) return fail(why, "part ", quote(part), " does not fit in 32 bits");
    char c = at(i);
    if (c == '.') {
      if (stored > 2) return fail(why, "more than 4 parts");
      if (val > 0xff) {
        return fail(why, "part ", num(stored + 1), " (", quote(part), " = ", num(val),
                    ") is more than 255");
      }
      bytes |= static_cast<std::uint32_t>(val) << (24 - 8 * stored);
      ++stored;
      ++i;
      continue;
    }
    if (c != '\0' && c != ' ' && c != '\t' && c != '\n' && c != '\v' && c != '\f' && c != '\r') {
      if (base == 8 && (c == '8' || c == '9')) {
        std::string_view whole = text.substr(start, text.find('.', start) - start);
        return fail(why, "part ", quote(whole), " starts with 0, so it is octal, and ",
                    std::string(1, c), " is not an octal digit");
      }
      return fail(why, "unexpected ", quote(text.substr(i, 1)), " at position ", num(i + 1));
    }
    break;
  }
  if (val > max_last[stored]) {
    return fail(why, "the last part is ", num(val), ", which does not fit in the ",
                num(32 - 8 * stored), " bits left after ", num(stored),
                stored == 1 ? " part" : " parts");
  }
  out = bytes | static_cast<std::uint32_t>(val);
  return true;
}

bool parse_hextet(std::string_view s, std::uint16_t& out, unsigned index, std::string* why) {
  if (s.size() > 4) {
    return fail(why, "group ", num(index), " (", quote(s), ") has more than 4 hex digits");
  }
  unsigned v = 0;
  for (char c : s) {
    int d = hex_value(c);
    if (d < 0) return fail(why, "group ", num(index), " (", quote(s), ") is not hexadecimal");
    v = v << 4 | static_cast<unsigned>(d);
  }
  out = static_cast<std::uint16_t>(v);
  return true;
}

// The rules of Python's ipaddress._BaseV6._ip_int_from_string, which inet_pton agrees with.
bool parse_v6_strict(std::string_view text, uint128& out, std::string* why) {
  if (text.empty()) return fail(why, "empty address");
  if (auto pct = text.find('%'); pct != std::string_view::npos) {
    return fail(why, "zone index ", quote(text.substr(pct)),
                " is not part of the address; remove it");
  }
  if (text.front() == '[' || text.back() == ']') {
    return fail(why, "remove the brackets: they belong to HOST:PORT, not to the address");
  }
  std::string_view parts[11];
  std::size_t n = 0;
  for (std::size_t pos = 0;;) {
    std::size_t colon = text.find(':', pos);
    if (n == 10) return fail(why, "too many ':'-separated groups (at most 8)");
    parts[n++] = text.substr(pos, colon == std::string_view::npos ? colon : colon - pos);
    if (colon == std::string_view::npos) break;
    pos = colon + 1;
  }
  if (n < 3) return fail(why, "too few ':'-separated groups (at least 3, as in ::1)");
  std::uint16_t tail[2];
  bool has_v4 = parts[n - 1].find('.') != std::string_view::npos;
  if (has_v4) {
    std::uint32_t v4 = 0;
    std::string inner;
    if (!parse_v4_strict(parts[n - 1], v4, why ? &inner : nullptr)) {
      return fail(why, "the IPv4 tail ", quote(parts[n - 1]), " is invalid: ", inner);
    }
    tail[0] = static_cast<std::uint16_t>(v4 >> 16);
    tail[1] = static_cast<std::uint16_t>(v4);
    --n;  // the dotted part stands for two groups, added below
  }
  const std::size_t count = n + (has_v4 ? 2 : 0);
  if (count > 9) return fail(why, "too many groups (at most 8)");
  std::size_t skip = 0;  // index of the empty part standing for "::"; 0 = none
  for (std::size_t i = 1; i + 1 < count; ++i) {
    if (i < n && parts[i].empty()) {
      if (skip != 0) return fail(why, "more than one '::'");
      skip = i;
    }
  }
  auto group_text = [&](std::size_t i) { return parts[i]; };
  std::size_t hi_count, lo_count, skipped;
  bool first_empty = parts[0].empty();
  bool last_empty = !has_v4 && parts[n - 1].empty();
  if (skip != 0) {
    hi_count = skip;
    lo_count = count - skip - 1;
    if (first_empty && --hi_count != 0) return fail(why, "a leading ':' must be part of '::'");
    if (last_empty && --lo_count != 0) return fail(why, "a trailing ':' must be part of '::'");
    if (hi_count + lo_count > 7) return fail(why, "'::' with 8 other groups stands for nothing");
    skipped = 8 - (hi_count + lo_count);
  } else {
    if (count != 8) {
      return fail(why, "expected 8 groups without '::', got ", num(count));
    }
    if (first_empty) return fail(why, "a leading ':' must be part of '::'");
    if (last_empty) return fail(why, "a trailing ':' must be part of '::'");
    hi_count = 8;
    lo_count = 0;
    skipped = 0;
  }
  uint128 value = 0;
  auto group = [&](std::size_t i, std::uint16_t& g) {
    if (has_v4 && i >= n) {
      g = tail[i - n];
      return true;
    }
    return parse_hextet(group_text(i), g, static_cast<unsigned>(i + 1), why);
  };
  std::size_t first = first_empty && skip != 0 ? 1 : 0;
  for (std::size_t i = first; i < first + hi_count; ++i) {
    std::uint16_t g = 0;
    if (!group(i, g)) return false;
    value = value << 16 | g;
  }
  value = skipped == 8 ? 0 : value << (16 * skipped);  // "::" alone skips all 128 bits
  for (std::size_t k = 0; k < lo_count; ++k) {
    std::size_t i = (last_empty ? count - 1 : count) - lo_count + k;
    std::uint16_t g = 0;
    if (!group(i, g)) return false;
    value = value << 16 | g;
  }
  out = value;
  return true;
}

char* write_u8(char* p, unsigned v) {
  if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
  if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
  *p++ = static_cast<char>('0' + v % 10);
  return p;
}

char* write_v4(char* p, std::uint32_t v) {
  p = write_u8(p, v >> 24);
  *p++ = '.';
  p = write_u8(p, v >> 16 & 0xff);
  *p++ = '.';
  p = write_u8(p, v >> 8 & 0xff);
  *p++ = '.';
  return write_u8(p, v & 0xff);
}

constexpr char hex_digits[] = "0123456789abcdef";

template <typename T, typename Impl>
T parse_throwing(std::string_view text, const char* what, Impl impl) {
  std::error_code ec;
  std::string why;
  T a = impl(text, ec, why);
  if (ec) throw std::system_error(ec, std::string(what) + " " + quote(text) + ": " + why);
  return a;
}

}  // namespace

std::string to_decimal(uint128 v) {
  char buf[40];
  char* end = buf + sizeof buf;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + static_cast<unsigned>(v % 10));
    v /= 10;
  } while (v != 0);
  return std::string(p, end);
}

// ---- ipv4_address

ipv4_address ipv4_address::parse(std::string_view text) {
  return parse_throwing<ipv4_address>(
      text, "invalid IPv4 address",
      [](std::string_view t, std::error_code& ec, std::string& why) { return parse(t, ec, why); });
}

ipv4_address ipv4_address::parse(std::string_view text, std::error_code& ec) noexcept {
  std::uint32_t v = 0;
  if (!parse_v4_strict(text, v, nullptr)) {
    ec = make_error_code(errc::invalid_address);
    return {};
  }
  ec.clear();
  return ipv4_address{v};
}

ipv4_address ipv4_address::parse(std::string_view text, std::error_code& ec, std::string& why) {
  std::uint32_t v = 0;
  if (!parse_v4_strict(text, v, &why)) {
    ec = make_error_code(errc::invalid_address);
    return {};
  }
  ec.clear();
  return ipv4_address{v};
}

ipv4_address ipv4_address::parse_aton(std::string_view text) {
  return parse_throwing<ipv4_address>(
      text, "inet_aton rejects", [](std::string_view t, std::error_code& ec, std::string& why) {
        return parse_aton(t, ec, why);
      });
}

ipv4_address ipv4_address::parse_aton(std::string_view text, std::error_code& ec) noexcept {
  std::uint32_t v = 0;
  if (!parse_v4_aton(text, v, nullptr)) {
    ec = make_error_code(errc::invalid_address);
    return {};
  }
  ec.clear();
  return ipv4_address{v};
}

ipv4_address ipv4_address::parse_aton(std::string_view text, std::error_code& ec,
                                      std::string& why) {
  std::uint32_t v = 0;
  if (!parse_v4_aton(text, v, &why)) {
    ec = make_error_code(errc::invalid_address);
    return {};
  }
  ec.clear();
  return ipv4_address{v};
}

std::size_t ipv4_address::format(char* out) const noexcept {
  return static_cast<std::size_t>(write_v4(out, value_) - out);
}

std::string ipv4_address::to_string() const {
  char buf[max_text_length];
  return std::string(buf, format(buf));
}

std::string ipv4_address::reverse_pointer() const {
  auto b = to_bytes();
  std::string s;
  for (int i = 3; i >= 0; --i) {
    s += std::to_string(b[static_cast<std::size_t>(i)]);
    s += '.';
  }
  return s + "in-addr.arpa";
}

std::string ipv4_address::to_binary() const {
  std::string s;
  s.reserve(35);
  for (int bit = 31; bit >= 0; --bit) {
    s += (value_ >> bit & 1) ? '1' : '0';
    if (bit % 8 == 0 && bit != 0) s += '.';
  }
  return s;
}

ip_flags ipv4_address::flags() const noexcept {
  ip_flags f;
  f.is_private = is_private();
  f.is_global = is_global();
  f.is_loopback = is_loopback();
  f.is_link_local = is_link_local();
  f.is_multicast = is_multicast();
  f.is_reserved = is_reserved();
  f.is_unspecified = is_unspecified();
  f.is_shared = is_shared();
  f.is_documentation = is_documentation();
  f.is_rfc1918 = is_rfc1918();
  return f;
}

// ---- ipv6_address

ipv6_address ipv6_address::parse(std::string_view text) {
  return parse_throwing<ipv6_address>(
      text, "invalid IPv6 address",
      [](std::string_view t, std::error_code& ec, std::string& why) { return parse(t, ec, why); });
}

ipv6_address ipv6_address::parse(std::string_view text, std::error_code& ec) noexcept {
  uint128 v = 0;
  if (!parse_v6_strict(text, v, nullptr)) {
    ec = make_error_code(errc::invalid_address);
    return {};
  }
  ec.clear();
  return ipv6_address{v};
}

ipv6_address ipv6_address::parse(std::string_view text, std::error_code& ec, std::string& why) {
  uint128 v = 0;
  if (!parse_v6_strict(text, v, &why)) {
    ec = make_error_code(errc::invalid_address);
    return {};
  }
  ec.clear();
  return ipv6_address{v};
}

std::size_t ipv6_address::format(char* out) const noexcept {
  char* p = out;
  if (is_v4_mapped()) {
    for (char c : std::string_view("::ffff:")) *p++ = c;
    return static_cast<std::size_t>(write_v4(p, mapped_v4().to_uint()) - out);
  }
  // RFC 5952 4.2: the longest run of two or more zero groups, the first one on a tie.
  unsigned best = 8, best_len = 0;
  for (unsigned i = 0; i < 8;) {
    if (group(i) != 0) {
      ++i;
      continue;
    }
    unsigned j = i;
    while (j < 8 && group(j) == 0) ++j;
    if (j - i > best_len && j - i >= 2) best = i, best_len = j - i;
    i = j;
  }
  for (unsigned i = 0; i < 8; ++i) {
    if (i == best) {
      *p++ = ':';
      *p++ = ':';
      i += best_len - 1;
      continue;
    }
    if (i != 0 && i != best + best_len) *p++ = ':';
    unsigned g = group(i);
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      unsigned d = g >> shift & 0xf;
      if (d != 0 || started || shift == 0) {
        *p++ = hex_digits[d];
        started = true;
      }
    }
  }
  return static_cast<std::size_t>(p - out);
}

std::string ipv6_address::to_string() const {
  char buf[max_text_length];
  return std::string(buf, format(buf));
}

std::string ipv6_address::to_exploded() const {
  std::string s;
  s.reserve(39);
  for (unsigned i = 0; i < 8; ++i) {
    if (i) s += ':';
    unsigned g = group(i);
    for (int shift = 12; shift >= 0; shift -= 4) s += hex_digits[g >> shift & 0xf];
  }
  return s;
}

std::string ipv6_address::reverse_pointer() const {
  std::string s;
  s.reserve(73);
  for (int nibble = 0; nibble < 32; ++nibble) {
    s += hex_digits[static_cast<unsigned>(value_ >> (4 * nibble)) & 0xf];
    s += '.';
  }
  return s + "ip6.arpa";
}

std::string ipv6_address::to_binary() const {
  std::string s;
  s.reserve(135);
  for (int bit = 127; bit >= 0; --bit) {
    s += (value_ >> bit & 1) ? '1' : '0';
    if (bit % 16 == 0 && bit != 0) s += ':';
  }
  return s;
}

ip_flags ipv6_address::flags() const noexcept {
  if (is_v4_mapped()) return mapped_v4().flags();  // as CPython does since gh-122792
  ip_flags f;
  f.is_private = is_private();
  f.is_global = is_global();
  f.is_loopback = is_loopback();
  f.is_link_local = is_link_local();
  f.is_multicast = is_multicast();
  f.is_reserved = is_reserved();
  f.is_unspecified = is_unspecified();
  f.is_site_local = is_site_local();
  f.is_documentation = is_documentation();
  f.is_unique_local = is_unique_local();
  return f;
}

// ---- ip_address

ip_address ip_address::parse(std::string_view text) {
  return parse_throwing<ip_address>(
      text, "invalid IP address",
      [](std::string_view t, std::error_code& ec, std::string& why) { return parse(t, ec, why); });
}

ip_address ip_address::parse(std::string_view text, std::error_code& ec) noexcept {
  if (text.find(':') != std::string_view::npos) return ipv6_address::parse(text, ec);
  return ipv4_address::parse(text, ec);
}

ip_address ip_address::parse(std::string_view text, std::error_code& ec, std::string& why) {
  if (text.find(':') != std::string_view::npos) return ipv6_address::parse(text, ec, why);
  return ipv4_address::parse(text, ec, why);
}

std::size_t ip_address::to_bytes(std::uint8_t* out) const noexcept {
  if (is_v4()) {
    auto b = v4_.to_bytes();
    std::copy(b.begin(), b.end(), out);
    return b.size();
  }
  auto b = v6_.to_bytes();
  std::copy(b.begin(), b.end(), out);
  return b.size();
}

std::string ip_address::to_string() const { return is_v4() ? v4_.to_string() : v6_.to_string(); }

std::size_t ip_address::format(char* out) const noexcept {
  return is_v4() ? v4_.format(out) : v6_.format(out);
}

std::string ip_address::reverse_pointer() const {
  return is_v4() ? v4_.reverse_pointer() : v6_.reverse_pointer();
}

}  // namespace sockit::net
