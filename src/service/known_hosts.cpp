// known_hosts: parsing, look-up and appending of trusted server identities.
#include "sockit/service/known_hosts.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "sockit/service/tls_identity.hpp"

namespace sockit::service {
namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

bool printable_word(std::string_view w) {
  if (w.empty() || w.size() > 1024) return false;
  for (unsigned char c : w) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

std::vector<known_host> parse_known_hosts(std::string_view text, std::size_t* bad_lines) {
  std::vector<known_host> out;
  std::size_t bad = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    while (!line.empty() && blank(line.front())) line.remove_prefix(1);
    while (!line.empty() && blank(line.back())) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto sp = line.find_first_of(" \t");
    std::string_view endpoint = line.substr(0, sp);
    std::string_view fp = sp == std::string_view::npos ? std::string_view() : line.substr(sp);
    while (!fp.empty() && blank(fp.front())) fp.remove_prefix(1);
    if (!printable_word(endpoint) || !is_fingerprint(fp)) {
      ++bad;
      continue;
    }
    out.push_back({std::string(endpoint), std::string(fp)});
  }
  if (bad_lines != nullptr) *bad_lines = bad;
  return out;
}

std::string default_known_hosts_path() { return default_config_dir() + "/known_hosts"; }

std::optional<std::string> find_known_host(const std::string& path, std::string_view endpoint) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > (64u << 20)) break;  // not a known_hosts file any more
  }
  // The last line for an endpoint wins: a re-pinned identity is appended after the old.
  std::optional<std::string> found;
  for (auto& h : parse_known_hosts(text)) {
    if (h.endpoint == endpoint) found = std::move(h.fingerprint);
  }
  return found;
}

void add_known_host(const std::string& path, std::string_view endpoint,
                    std::string_view fingerprint) {
  if (!printable_word(endpoint) || !is_fingerprint(fingerprint))
    throw std::runtime_error("not a known_hosts entry");
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) make_private_dirs(path.substr(0, slash));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  std::string line = std::string(endpoint) + " " + std::string(fingerprint) + "\n";
  ssize_t n = ::write(fd, line.data(), line.size());  // one write: O_APPEND keeps lines whole
  int e = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size()))
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(e));
}

// Pinning: --pin when given, else known_hosts (trust on first use, a change refused).
bool check_identity(const trust_policy& o, const std::string& endpoint, const std::string& fp,
                    std::string& why) {
  if (!o.pin.empty()) {
    if (o.pin == fp) return true;
    why = "the server at " + endpoint + " is " + fp + ", not the pinned " + o.pin +
          ": refusing to send anything";
    return false;
  }
  std::string path;
  try {
    path = o.known_hosts.empty() ? default_known_hosts_path() : o.known_hosts;
  } catch (const std::exception& e) {
    why = e.what();
    return false;
  }
  auto known = find_known_host(path, endpoint);
  if (known) {
    if (*known == fp) return true;
    // One line: the CLI escapes control characters (a newline would show as \n).
    why = "THE IDENTITY OF " + endpoint + " HAS CHANGED: it was " + *known + " (" + path +
          ") and is now " + fp +
          ". Someone may be intercepting the connection, or the server's key was replaced. "
          "If you expect the change, remove " +
          endpoint + "'s line from " + path + ".";
    return false;
  }
  bool yes = o.accept_new || (o.confirm_new && o.confirm_new(endpoint, fp));
  if (!yes) {
    why = "unknown server identity " + fp + " for " + endpoint +
          ": check it with the server's "
          "operator, then pass --pin " +
          fp + " or --accept-new";
    return false;
  }
  try {
    add_known_host(path, endpoint, fp);
  } catch (const std::exception& e) {
    why = e.what();
    return false;
  }
  return true;
}

}  // namespace sockit::service
