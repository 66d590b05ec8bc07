// http_connect: the CONNECT request and the proxy's status line. Only the status line
// matters to a tunnel (2xx: the bytes that follow the head are the target's); the headers
// are skipped, whatever they say.
#include "sockit/codec/http_connect.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <vector>

namespace sockit::codec::http_connect {
namespace {

bool has_breaks(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

std::string base64(std::string_view in) {
  std::vector<unsigned char> out(4 * ((in.size() + 2) / 3) + 1);
  const int n = EVP_EncodeBlock(out.data(), reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  return std::string(reinterpret_cast<const char*>(out.data()), static_cast<std::size_t>(n));
}

}  // namespace

std::string encode_request(std::string_view host, unsigned port, std::string_view user,
                           std::string_view password) {
  if (host.empty() || has_breaks(host) || has_breaks(user) || has_breaks(password)) return {};
  const bool v6 = host.find(':') != std::string_view::npos;
  std::string authority;
  if (v6) authority += '[';
  authority += host;
  if (v6) authority += ']';
  authority += ':';
  authority += std::to_string(port);
  std::string out;
  out.append("CONNECT ").append(authority).append(" HTTP/1.1\r\nHost: ").append(authority);
  out.append("\r\n");
  if (!user.empty()) {
    std::string pair;
    pair.append(user).append(":").append(password);
    out.append("Proxy-Authorization: Basic ").append(base64(pair)).append("\r\n");
  }
  out += "\r\n";
  return out;
}

std::size_t head_end(std::string_view in) noexcept {
  for (std::size_t i = in.find('\n'); i != std::string_view::npos; i = in.find('\n', i + 1)) {
    if (i + 1 < in.size() && in[i + 1] == '\n') return i + 2;
    if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') return i + 3;
  }
  return 0;
}

bool parse_response(std::string_view head, response& out, std::string& why) {
  const std::size_t eol = head.find('\n');
  std::string_view line = head.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // "HTTP/1.1 200 Connection established": the version, one space, three digits.
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') {
    why = "not an HTTP/1.x response";
    return false;
  }
  const std::string_view code = line.substr(9, 3);
  if (!std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      code[0] == '0' || (line.size() > 12 && line[12] != ' ')) {
    why = "no status code in the proxy's response";
    return false;
  }
  out.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  out.reason = line.size() > 13 ? std::string(line.substr(13)) : std::string();
  return true;
}

}  // namespace sockit::codec::http_connect
