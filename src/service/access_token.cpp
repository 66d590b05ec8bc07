// access_token: generation, reading from a file or the environment, constant-time compare.
#include "sockit/service/access_token.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace sockit::service {
namespace {

std::string checked(std::string text, const std::string& where) {
  auto nl = text.find('\n');
  if (nl != std::string::npos) text.resize(nl);
  auto first = text.find_first_not_of(" \t\r");
  auto last = text.find_last_not_of(" \t\r");
  text = first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
  if (text.empty()) throw std::runtime_error(where + ": no token in it");
  if (text.size() > 1024) throw std::runtime_error(where + ": a token is at most 1 KiB");
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) throw std::runtime_error(where + ": control character in token");
  }
  return text;
}

}  // namespace

std::string generate_token() {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("no randomness for a token");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : raw) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  OPENSSL_cleanse(raw, sizeof raw);
  return out;
}

std::string read_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read token file " + path);
  std::string text(1025 + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return checked(std::move(text), "token file " + path);
}

std::string token_from_environment() {
  const char* v = std::getenv("SOCKIT_TOKEN");
  if (v == nullptr || v[0] == '\0') return {};
  return checked(v, "SOCKIT_TOKEN");
}

bool tokens_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

unsigned auth_failures::record(const std::string& address) {
  std::lock_guard lock(mu_);
  if (failures_.size() >= max_tracked) failures_.clear();
  return ++failures_[address];
}

}  // namespace sockit::service
