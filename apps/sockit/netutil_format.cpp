// Shared output pieces of the address utilities.
#include "netutil_format.hpp"

#include <fmt/format.h>
#include <iostream>
#include <system_error>

#include "output.hpp"

namespace sockit::cli {

nlohmann::json flags_json(const net::ip_flags& f) {
  return {{"private", f.is_private},         {"global", f.is_global},
          {"loopback", f.is_loopback},       {"link_local", f.is_link_local},
          {"multicast", f.is_multicast},     {"reserved", f.is_reserved},
          {"unspecified", f.is_unspecified}, {"site_local", f.is_site_local},
          {"shared", f.is_shared},           {"documentation", f.is_documentation},
          {"rfc1918", f.is_rfc1918},         {"unique_local", f.is_unique_local}};
}

std::string describe_flags(const net::ip_flags& f, net::ip_version v) {
  std::vector<std::string> words;
  if (f.is_unspecified)
    words.emplace_back(v == net::ip_version::v4 ? "unspecified (0.0.0.0: any address)"
                                                : "unspecified (::)");
  if (f.is_loopback) words.emplace_back("loopback");
  if (f.is_rfc1918) words.emplace_back("private (RFC 1918)");
  if (f.is_unique_local) words.emplace_back("unique local (RFC 4193, IPv6's private range)");
  if (f.is_shared) words.emplace_back("shared address space (RFC 6598, carrier-grade NAT)");
  if (f.is_link_local) words.emplace_back("link-local");
  if (f.is_site_local) words.emplace_back("site-local (deprecated, RFC 3879)");
  if (f.is_multicast) words.emplace_back("multicast");
  if (f.is_documentation) words.emplace_back("documentation (examples only)");
  if (f.is_reserved) words.emplace_back("reserved");
  if (f.is_global) {
    words.emplace_back("globally reachable");
  } else {
    words.emplace_back(f.is_private ? "not globally reachable (IANA special-purpose registry)"
                                    : "not globally reachable");
  }
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

std::string hex_bytes(std::span<const std::uint8_t> bytes, std::string_view sep) {
  std::string s;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i && !sep.empty()) s += sep;
    s += fmt::format("{:02x}", bytes[i]);
  }
  return s;
}

std::string python_bytes_repr(std::span<const std::uint8_t> bytes) {
  // CPython's bytes_repr: single quotes unless the bytes hold ' and no ".
  bool squote = false, dquote = false;
  for (auto b : bytes) {
    squote |= b == '\'';
    dquote |= b == '"';
  }
  const char quote = squote && !dquote ? '"' : '\'';
  std::string s = "b";
  s += quote;
  for (auto b : bytes) {
    if (b == quote || b == '\\') {
      s += '\\';
      s += static_cast<char>(b);
    } else if (b == '\t') {
      s += "\\t";
    } else if (b == '\n') {
      s += "\\n";
    } else if (b == '\r') {
      s += "\\r";
    } else if (b < 0x20 || b >= 0x7f) {
      s += fmt::format("\\x{:02x}", b);
    } else {
      s += static_cast<char>(b);
    }
  }
  s += quote;
  return s;
}

std::vector<std::string> collect_inputs(const std::vector<std::string>& args, bool from_stdin) {
  if (!from_stdin) return args;
  std::vector<std::string> out;
  std::string line;
  while (std::getline(std::cin, line)) {
    auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;
    auto e = line.find_last_not_of(" \t\r");
    out.push_back(line.substr(b, e - b + 1));
  }
  return out;
}

namespace {
// std::system_error appends ": <code message>" to what(); ours already say it in words.
std::string plain_what(const std::exception& e) {
  std::string w = e.what();
  if (const auto* se = dynamic_cast<const std::system_error*>(&e)) {
    const std::string tail = ": " + se->code().message();
    if (w.size() > tail.size() && w.ends_with(tail)) w.resize(w.size() - tail.size());
  }
  return w;
}
}  // namespace

std::string error_text(const std::exception& e) { return escape_for_terminal(plain_what(e)); }

int for_each_input(const std::vector<std::string>& inputs, bool json,
                   const std::function<void(const std::string&)>& one) {
  int status = 0;
  for (const auto& input : inputs) {
    try {
      one(input);
    } catch (const std::exception& e) {
      status = 1;
      if (json) {
        nlohmann::json err{{"input", input}, {"error", plain_what(e)}};
        if (const auto* se = dynamic_cast<const std::system_error*>(&e)) {
          err["code"] = se->code().message();
        }
        print_json(err);
      } else {
        print_line("sockit: " + error_text(e), stderr);
      }
    }
  }
  return status;
}

}  // namespace sockit::cli
