// libFuzzer target for what an HTTP proxy and a credentials file or SOCKIT_PROXY_AUTH can
// hand sockit: the response head (codec/http_connect.hpp) and the user:password text
// (service/proxy_client.hpp). Properties: head_end points just past a blank line; a parsed
// status is three digits; a request is never built with a line break from its inputs; and
// credentials that parse hold no control bytes and rebuild to the text.
#include <stdexcept>
#include <string>

#include "fuzz_check.hpp"
#include "sockit/codec/http_connect.hpp"
#include "sockit/service/proxy_client.hpp"

namespace http = sockit::codec::http_connect;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sockit_fuzz::as_text(data, size);
  const std::size_t end = http::head_end(text);
  FUZZ_CHECK(end <= text.size());
  if (end != 0) {
    FUZZ_CHECK(end >= 2 && text[end - 1] == '\n');
    http::response r;
    std::string why;
    if (http::parse_response(text.substr(0, end), r, why)) {
      FUZZ_CHECK(r.status >= 100 && r.status <= 999);
    } else {
      FUZZ_CHECK(!why.empty());
    }
  }
  // The input split in three as host, user and password of a request.
  const std::size_t a = text.find('\x01'),
                    b = a == std::string_view::npos ? a : text.find('\x01', a + 1);
  if (b != std::string_view::npos) {
    const std::string req = http::encode_request(text.substr(0, a), 443,
                                                 text.substr(a + 1, b - a - 1), text.substr(b + 1));
    if (!req.empty()) {
      // Exactly the lines it means: request line, Host, maybe Proxy-Authorization, blank.
      std::size_t lines = 0;
      for (char c : req) lines += c == '\n';
      FUZZ_CHECK(lines == 3 || lines == 4);
      FUZZ_CHECK(http::head_end(req) == req.size());
    }
  }
  try {
    auto c = sockit::service::parse_proxy_credentials(text, "fuzz");
    FUZZ_CHECK(!c.user.empty() && !c.password.empty());
    FUZZ_CHECK(c.user.find(':') == std::string::npos);
    for (char ch : c.user + c.password)
      FUZZ_CHECK(static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f);
  } catch (const std::runtime_error&) {
  }
  return 0;
}
