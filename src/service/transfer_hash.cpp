// transfer hashes: XXH3-128 from libxxhash, SHA-256 and MD5 from OpenSSL's EVP.
#include "sockit/service/transfer_hash.hpp"

#include <openssl/evp.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

namespace sockit::service {

std::string_view hash_name(hash_algorithm a) noexcept {
  switch (a) {
    case hash_algorithm::xxh3:
      return "xxh3";
    case hash_algorithm::sha256:
      return "sha256";
    case hash_algorithm::md5:
      return "md5";
  }
  return "xxh3";
}

bool parse_hash_name(std::string_view name, hash_algorithm& out) noexcept {
  if (name == "xxh3" || name == "xxh3-128" || name == "xxh128") {
    out = hash_algorithm::xxh3;
  } else if (name == "sha256" || name == "sha-256") {
    out = hash_algorithm::sha256;
  } else if (name == "md5") {
    out = hash_algorithm::md5;
  } else {
    return false;
  }
  return true;
}

struct hasher::state {
  XXH3_state_t* xxh = nullptr;
  EVP_MD_CTX* evp = nullptr;
  ~state() {
    if (xxh) XXH3_freeState(xxh);
    if (evp) EVP_MD_CTX_free(evp);
  }
};

namespace {
const EVP_MD* evp_of(hash_algorithm a) {
  return a == hash_algorithm::sha256 ? EVP_sha256() : EVP_md5();
}
std::string to_hex(const unsigned char* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    s[2 * i] = digits[p[i] >> 4];
    s[2 * i + 1] = digits[p[i] & 15];
  }
  return s;
}
}  // namespace

hasher::hasher(hash_algorithm a) : algo_(a), s_(std::make_unique<state>()) { reset(); }
hasher::~hasher() = default;
hasher::hasher(hasher&&) noexcept = default;
hasher& hasher::operator=(hasher&&) noexcept = default;

hasher::hasher(const hasher& other) : algo_(other.algo_), s_(std::make_unique<state>()) {
  if (algo_ == hash_algorithm::xxh3) {
    s_->xxh = XXH3_createState();
    if (!s_->xxh) throw std::bad_alloc();
    XXH3_copyState(s_->xxh, other.s_->xxh);
  } else {
    s_->evp = EVP_MD_CTX_new();
    if (!s_->evp || EVP_MD_CTX_copy_ex(s_->evp, other.s_->evp) != 1) throw std::bad_alloc();
  }
}

hasher& hasher::operator=(const hasher& other) {
  if (this != &other) *this = hasher(other);
  return *this;
}

void hasher::reset() {
  if (algo_ == hash_algorithm::xxh3) {
    if (!s_->xxh) s_->xxh = XXH3_createState();
    if (!s_->xxh) throw std::bad_alloc();
    XXH3_128bits_reset(s_->xxh);
  } else {
    if (!s_->evp) s_->evp = EVP_MD_CTX_new();
    if (!s_->evp || EVP_DigestInit_ex(s_->evp, evp_of(algo_), nullptr) != 1) {
      throw std::runtime_error("OpenSSL digest init failed");
    }
  }
}

void hasher::update(const void* data, std::size_t n) {
  if (n == 0) return;
  if (algo_ == hash_algorithm::xxh3) {
    XXH3_128bits_update(s_->xxh, data, n);
  } else {
    EVP_DigestUpdate(s_->evp, data, n);
  }
}

std::string hasher::hex() const {
  if (algo_ == hash_algorithm::xxh3) {
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(s_->xxh));
    return to_hex(c.digest, sizeof c.digest);
  }
  // Finalising consumes an EVP context, so finalise a copy.
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!copy || EVP_MD_CTX_copy_ex(copy, s_->evp) != 1 || EVP_DigestFinal_ex(copy, md, &len) != 1) {
    EVP_MD_CTX_free(copy);
    throw std::runtime_error("OpenSSL digest failed");
  }
  EVP_MD_CTX_free(copy);
  return to_hex(md, len);
}

void hash_file_range(int fd, std::uint64_t offset, std::uint64_t length, hasher& h,
                     std::error_code& ec, const std::atomic<bool>* stop) {
  ec.clear();
  std::vector<char> buf(1 << 20);
  while (length > 0) {
    if (stop && stop->load(std::memory_order_relaxed)) {
      ec = std::make_error_code(std::errc::operation_canceled);
      return;
    }
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, buf.size()));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ec.assign(errno, std::system_category());
      return;
    }
    if (n == 0) {
      ec = std::make_error_code(std::errc::io_error);  // shorter than announced
      return;
    }
    h.update(buf.data(), static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
    length -= static_cast<std::uint64_t>(n);
  }
}

}  // namespace sockit::service
