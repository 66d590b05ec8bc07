// sockit addr: every form of an address (text, packed bytes, Python bytes literal, integer in
// host and network byte order, binary) from any of them; --aton parses as inet_aton does.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.hpp"
#include "netutil_format.hpp"
#include "output.hpp"
#include "sockit/net/address.hpp"

namespace sockit::cli {
namespace {

struct addr_options {
  std::vector<std::string> inputs;
  std::string from = "auto";
  bool aton = false;
  bool v6 = false;
  bool json = false;
  bool from_stdin = false;
};

[[noreturn]] void bad(const std::string& input, const std::string& why) {
  throw std::invalid_argument("'" + input + "': " + why);
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

net::ip_address from_bytes(const std::string& input, const std::vector<std::uint8_t>& b) {
  if (b.size() == 4)
    return net::ipv4_address{net::ipv4_address::bytes_type{b[0], b[1], b[2], b[3]}};
  if (b.size() == 16) {
    net::ipv6_address::bytes_type a{};
    std::copy(b.begin(), b.end(), a.begin());
    return net::ipv6_address{a};
  }
  bad(input, fmt::format("{} bytes; an address is 4 (IPv4) or 16 (IPv6)", b.size()));
}

// b'\xc0\xa8\x01\x02', b"..", or bare \xc0\xa8\x01\x02 escapes.
net::ip_address parse_bytes_literal(const std::string& input) {
  std::string_view s = input;
  if (s.size() >= 3 && (s[0] == 'b' || s[0] == 'B') && (s[1] == '\'' || s[1] == '"')) {
    if (s.back() != s[1]) bad(input, "the bytes literal is not closed");
    s = s.substr(2, s.size() - 3);
  }
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(static_cast<std::uint8_t>(s[i]));
      continue;
    }
    if (++i == s.size()) bad(input, "a trailing backslash");
    char c = s[i];
    if (c == 'x') {
      if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) {
        bad(input, "\\x needs two hex digits");
      }
      out.push_back(
          static_cast<std::uint8_t>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (c == 'n' || c == 't' || c == 'r') {
      out.push_back(c == 'n' ? '\n' : c == 't' ? '\t' : '\r');
    } else if (c == '\\' || c == '\'' || c == '"') {
      out.push_back(static_cast<std::uint8_t>(c));
    } else {
      bad(input, std::string("unknown escape \\") + c);
    }
  }
  return from_bytes(input, out);
}

net::ip_address parse_hex(const std::string& input) {
  std::string_view s = input;
  if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
  if (s.empty() || !std::all_of(s.begin(), s.end(), is_hex)) bad(input, "not hexadecimal");
  if (s.size() != 8 && s.size() != 32) {
    bad(input, fmt::format("{} hex digits; packed bytes are 8 (IPv4) or 32 (IPv6)", s.size()));
  }
  std::vector<std::uint8_t> b;
  for (std::size_t i = 0; i < s.size(); i += 2) {
    b.push_back(static_cast<std::uint8_t>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
  }
  return from_bytes(input, b);
}

net::ip_address parse_int(const std::string& input, bool v6) {
  if (input.empty() ||
      !std::all_of(input.begin(), input.end(), [](char c) { return c >= '0' && c <= '9'; }))
    bad(input, "not a decimal integer");
  net::uint128 v = 0;
  const net::uint128 max = ~net::uint128{0};
  for (char c : input) {
    unsigned d = static_cast<unsigned>(c - '0');
    if (v > (max - d) / 10) bad(input, "more than 2^128 - 1, the largest IPv6 address");
    v = v * 10 + d;
  }
  if (!v6 && v <= 0xffffffffu) return net::ip_address::from_uint(v, net::ip_version::v4);
  return net::ip_address::from_uint(v, net::ip_version::v6);
}

net::ip_address parse_binary(const std::string& input) {
  std::string bits;
  unsigned groups = 1;
  for (char c : input) {
    if (c == '0' || c == '1') {
      bits += c;
    } else if (c == '.' || c == ':' || c == ' ') {
      ++groups;
    } else {
      bad(input, "binary digits must be 0 or 1");
    }
  }
  if (bits.size() != 32 && bits.size() != 128) {
    bad(input, fmt::format("{} bits; an address is 32 (IPv4) or 128 (IPv6)", bits.size()));
  }
  net::uint128 v = 0;
  for (char c : bits) v = v << 1 | static_cast<unsigned>(c - '0');
  return net::ip_address::from_uint(v,
                                    bits.size() == 32 ? net::ip_version::v4 : net::ip_version::v6);
}

// Binary as `addr` prints it: four 8-bit groups joined by '.', eight 16-bit groups joined by
// ':', or all 32/128 bits in a row. (1111:1111:... is IPv6 text, not binary.)
bool looks_binary(const std::string& s) {
  auto groups_of = [&](char sep, std::size_t width, std::size_t count) {
    if (s.size() != width * count + (count - 1)) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
      const bool at_sep = (i + 1) % (width + 1) == 0;
      if (at_sep ? s[i] != sep : (s[i] != '0' && s[i] != '1')) return false;
    }
    return true;
  };
  return groups_of('.', 8, 4) || groups_of(':', 16, 8) || groups_of('.', 32, 1) ||
         groups_of('.', 128, 1);
}

net::ip_address parse_input(const std::string& input, std::string& form, const addr_options& o) {
  if (form == "auto") {
    if (o.aton) {
      form = "aton";
    } else if (input.starts_with("b'") || input.starts_with("b\"") || input.starts_with("\\x")) {
      form = "bytes";
    } else if (input.starts_with("0x") || input.starts_with("0X")) {
      form = "hex";
    } else if (looks_binary(input)) {
      form = "binary";
    } else if (!input.empty() && std::all_of(input.begin(), input.end(),
                                             [](char c) { return c >= '0' && c <= '9'; })) {
      form = "int";
    } else {
      form = "text";
    }
  }
  if (form == "aton") return net::ipv4_address::parse_aton(input);
  if (form == "bytes") return parse_bytes_literal(input);
  if (form == "hex") return parse_hex(input);
  if (form == "binary") return parse_binary(input);
  if (form == "int") return parse_int(input, o.v6);
  if (o.v6 && input.find(':') == std::string::npos) {
    return net::ipv6_address::v4_mapped(net::ipv4_address::parse(input));
  }
  return net::ip_address::parse(input);
}

std::string aton_explanation(const std::string& input, net::ipv4_address a) {
  std::string_view s = input;
  s = s.substr(0, s.find_first_of(" \t\n\v\f\r"));
  auto parts = static_cast<unsigned>(std::count(s.begin(), s.end(), '.')) + 1;
  std::string text = fmt::format("inet_aton read {} part{}", parts, parts == 1 ? "" : "s");
  if (parts < 4) {
    text += fmt::format("; the last fills the low {} bits", 32 - 8 * (parts - 1));
  }
  if (s.find("0x") != std::string_view::npos || s.find("0X") != std::string_view::npos) {
    text += "; 0x means hexadecimal";
  }
  bool octal = false;
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] == '0' && (i == 0 || s[i - 1] == '.') && s[i + 1] >= '0' && s[i + 1] <= '7')
      octal = true;
  }
  if (octal) text += "; a leading 0 means octal";
  if (s.size() != input.size()) text += "; text after the space is ignored";
  return text + " -> " + a.to_string();
}

void show(const std::string& input, const addr_options& o) {
  std::string form = o.aton ? "aton" : o.from;
  const net::ip_address a = parse_input(input, form, o);
  std::uint8_t bytes[16];
  const std::size_t n = a.to_bytes(bytes);
  const std::span<const std::uint8_t> packed(bytes, n);
  std::string escaped;
  for (auto b : packed) escaped += fmt::format("\\x{:02x}", b);

  nlohmann::json j{{"input", input},
                   {"form", form},
                   {"version", a.is_v4() ? 4 : 6},
                   {"address", a.to_string()},
                   {"packed_hex", hex_bytes(packed)},
                   {"python_bytes", python_bytes_repr(packed)},
                   {"escaped_bytes", escaped},
                   {"integer", net::to_decimal(a.to_uint())},
                   {"reverse_pointer", a.reverse_pointer()},
                   {"flags", flags_json(a.flags())}};
  if (a.is_v4()) {
    const std::uint32_t host = a.v4().to_uint();
    std::uint32_t net_order = 0;  // the in_addr.s_addr word: the bytes as this CPU reads them
    std::memcpy(&net_order, bytes, 4);
    j["exploded"] = a.to_string();
    j["uint32_host_order"] = host;
    j["uint32_network_order"] = net_order;
    j["binary"] = a.v4().to_binary();
    j["class"] = std::string(1, a.v4().historic_class());
  } else {
    const net::ipv6_address v6 = a.v6();
    j["exploded"] = v6.to_exploded();
    j["binary"] = v6.to_binary();
    j["ipv4_mapped"] = v6.is_v4_mapped() ? nlohmann::json(v6.mapped_v4().to_string()) : nullptr;
    j["sixtofour"] = v6.is_6to4() ? nlohmann::json(v6.sixtofour_v4().to_string()) : nullptr;
    j["teredo"] = v6.is_teredo() ? nlohmann::json{{"server", v6.teredo_server().to_string()},
                                                  {"client", v6.teredo_client().to_string()}}
                                 : nlohmann::json(nullptr);
  }
  if (o.json) {
    print_json(j);
    return;
  }
  const bool little = std::endian::native == std::endian::little;
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("text", a.is_v4() ? a.to_string() : a.to_string() + "   (RFC 5952)");
  if (a.is_v6()) rows.emplace_back("exploded", a.v6().to_exploded());
  if (form == "aton") rows.emplace_back("inet_aton", aton_explanation(input, a.v4()));
  rows.emplace_back("packed bytes", hex_bytes(packed, " ") + "   (network byte order: big-endian)");
  rows.emplace_back("Python bytes",
                    python_bytes_repr(packed) +
                        fmt::format("   = socket.{}",
                                    a.is_v4() ? "inet_aton('" + a.to_string() + "')"
                                              : "inet_pton(AF_INET6, '" + a.to_string() + "')"));
  if (a.is_v4()) {
    const std::uint32_t host = a.v4().to_uint();
    const std::uint32_t net_order = j["uint32_network_order"];
    rows.emplace_back("integer",
                      fmt::format("{} = 0x{:08x}   (host byte order: ntohl(s_addr))", host, host));
    rows.emplace_back(
        "s_addr",
        fmt::format("{} = 0x{:08x}   (network byte order, read as a uint32 on this {}-endian host)",
                    net_order, net_order, little ? "little" : "big"));
    rows.emplace_back("binary", a.v4().to_binary());
    rows.emplace_back("class", fmt::format("{} (historic, before CIDR)", a.v4().historic_class()));
  } else {
    rows.emplace_back("integer", net::to_decimal(a.to_uint()));
    if (a.v6().is_v4_mapped()) rows.emplace_back("IPv4-mapped", a.v6().mapped_v4().to_string());
    if (a.v6().is_6to4()) rows.emplace_back("6to4 IPv4", a.v6().sixtofour_v4().to_string());
    if (a.v6().is_teredo()) {
      rows.emplace_back("Teredo", "server " + a.v6().teredo_server().to_string() + ", client " +
                                      a.v6().teredo_client().to_string());
    }
  }
  rows.emplace_back("reverse name", a.reverse_pointer());
  rows.emplace_back("flags", describe_flags(a.flags(), a.version()));
  print_line(fmt::format("{} (IPv{}, from {})", escape_for_terminal(input), a.is_v4() ? 4 : 6,
                         form == "text" ? "text, parsed strictly like inet_pton" : form));
  for (const auto& [k, v] : rows) print_line(fmt::format("  {:<13} {}", k, v));
}

int run_addr(const addr_options& o) {
  auto inputs = collect_inputs(o.inputs, o.from_stdin);
  if (inputs.empty()) throw std::invalid_argument("no address given (pass ADDR or --stdin)");
  return for_each_input(inputs, o.json, [&](const std::string& in) { show(in, o); });
}

}  // namespace

void setup_addr(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<addr_options>();
  auto* cmd = app.add_subcommand("addr", "Every form of an address: text, bytes, integer, binary");
  cmd->add_option("address", o->inputs,
                  "192.168.1.2, 2001:db8::1, 3232235778, 0xc0a80102, b'\\xc0\\xa8\\x01\\x02', "
                  "11000000.10101000.00000001.00000010");
  cmd->add_flag("--aton", o->aton,
                "Parse like inet_aton: 127.1, 0x7f.1, 017.0.0.1 (octal), 3232235778");
  cmd->add_option("--from", o->from, "Input form (default: guessed from the text)")
      ->check(CLI::IsMember({"auto", "text", "aton", "int", "hex", "bytes", "binary"}));
  cmd->add_flag("-6,--ipv6", o->v6, "Read integers and IPv4 text as IPv6 (::ffff:a.b.c.d)");
  cmd->add_flag("--json", o->json, "One JSON object per address");
  cmd->add_flag("--stdin", o->from_stdin, "Read addresses from standard input, one per line");
  cmd->footer(
      "Text is parsed strictly, as inet_pton and Python's ipaddress do (no leading zeros,\n"
      "exactly four octets); --aton accepts what inet_aton accepts. Exit status 1 when any\n"
      "input is invalid.");
  cmd->callback([o, &exit_code] { exit_code = run_addr(*o); });
}

}  // namespace sockit::cli
