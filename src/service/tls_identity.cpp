// tls_identity: key and certificate generation, storage and fingerprints (OpenSSL 3 EVP).
#include "sockit/service/tls_identity.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace sockit::service {
namespace {

template <class T, void (*F)(T*)>
struct deleter {
  void operator()(T* p) const noexcept { F(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string key_fingerprint(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key, &der);  // SubjectPublicKeyInfo, as SSH and Syncthing hash it
  if (n <= 0) return {};
  unsigned char digest[32];
  unsigned int len = 0;
  bool ok = EVP_Digest(der, static_cast<std::size_t>(n), digest, &len, EVP_sha256(), nullptr) == 1;
  OPENSSL_free(der);
  if (!ok || len != sizeof digest) return {};
  unsigned char b64[64];
  int m = EVP_EncodeBlock(b64, digest, sizeof digest);
  std::string text(reinterpret_cast<char*>(b64), static_cast<std::size_t>(m));
  while (!text.empty() && text.back() == '=') text.pop_back();  // as ssh-keygen -l prints it
  return "SHA256:" + text;
}

x509_ptr cert_from_pem(std::string_view pem) {
  bio_ptr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return x509_ptr(b ? PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr) : nullptr);
}

pkey_ptr key_from_pem(std::string_view pem) {
  bio_ptr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return pkey_ptr(b ? PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr) : nullptr);
}

// Reads a whole small file (a PEM is a few KiB; more than 1 MiB is not one).
bool read_small_file(const std::string& path, std::string& out, int& err) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    err = errno;
    return false;
  }
  out.clear();
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > (1u << 20)) {
      err = EFBIG;
      ::close(fd);
      return false;
    }
  }
  ::close(fd);
  return true;
}

// Writes `data` to dir/name with mode 0600 through a temporary file and a rename that does
// not replace: false (and nothing written) if dir/name appeared meanwhile.
bool write_new_file(const std::string& dir, const std::string& name, const std::string& data) {
  std::string tmp = dir + "/." + name + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) fail("cannot create " + tmp + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail("cannot write " + tmp + ": " + std::strerror(e));
    }
    done += static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  // link() fails with EEXIST instead of replacing: the first server to get there wins.
  std::string final_path = dir + "/" + name;
  bool linked = ::link(tmp.c_str(), final_path.c_str()) == 0;
  int e = errno;
  ::unlink(tmp.c_str());
  if (!linked && e != EEXIST) fail("cannot store " + final_path + ": " + std::strerror(e));
  return linked;
}

// Parses and re-encodes, so cert_pem holds the certificate only even when the file given
// held the key too (identity.pem), and key_pem the key only.
tls_identity identity_of(std::string_view cert_text, std::string_view key_text,
                         const std::string& where) {
  x509_ptr cert = cert_from_pem(cert_text);
  if (!cert) fail(where + ": not a PEM certificate");
  pkey_ptr key = key_from_pem(key_text);
  if (!key) fail(where + ": not a PEM private key");
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    fail(where + ": the key does not belong to the certificate");
  tls_identity id;
  EVP_PKEY* pub = X509_get0_pubkey(cert.get());
  id.fingerprint = pub ? key_fingerprint(pub) : std::string();
  if (id.fingerprint.empty()) fail(where + ": cannot fingerprint the certificate's key");
  bio_ptr cb(BIO_new(BIO_s_mem())), kb(BIO_new(BIO_s_mem()));
  if (!cb || !kb || PEM_write_bio_X509(cb.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    fail(where + ": cannot encode the identity");
  id.cert_pem = bio_text(cb.get());
  id.key_pem = bio_text(kb.get());
  return id;
}

}  // namespace

void make_private_dirs(const std::string& dir) {
  for (std::size_t at = 1; at <= dir.size(); ++at) {
    if (at != dir.size() && dir[at] != '/') continue;
    std::string part = dir.substr(0, at);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
      fail("cannot create " + part + ": " + std::strerror(errno));
  }
}

std::string default_config_dir() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/sockit";
  const char* home = std::getenv("HOME");
  if (home == nullptr || home[0] != '/')
    fail("neither XDG_CONFIG_HOME nor HOME is set: give --cert and --key");
  return std::string(home) + "/.config/sockit";
}

tls_identity generate_identity() {
  pkey_ptr key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot generate a P-256 key");
  x509_ptr cert(X509_new());
  if (!cert) fail("cannot make a certificate");
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) fail("no randomness for a serial number");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // a little clock skew is fine
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 20L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("sockit"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  // Clients pin the key, so names are not what they check; these let `openssl s_client
  // -verify_hostname localhost`, ncat --ssl-verify and socat cafile= accept it on loopback.
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const char* ext :
       {"subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1", "basicConstraints=critical,CA:TRUE",
        "keyUsage=critical,digitalSignature,keyCertSign"}) {
    std::string text(ext);
    auto eq = text.find('=');
    X509_EXTENSION* e =
        X509V3_EXT_conf(nullptr, &ctx, text.substr(0, eq).c_str(), text.substr(eq + 1).c_str());
    if (e == nullptr) fail("cannot add certificate extension " + text);
    X509_add_ext(cert.get(), e, -1);
    X509_EXTENSION_free(e);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) fail("cannot sign the certificate");
  bio_ptr cb(BIO_new(BIO_s_mem())), kb(BIO_new(BIO_s_mem()));
  if (!cb || !kb || PEM_write_bio_X509(cb.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    fail("cannot encode the new identity");
  std::string c = bio_text(cb.get()), k = bio_text(kb.get());
  return identity_of(c, k, "new identity");
}

tls_identity load_identity(const std::string& cert_path, const std::string& key_path) {
  std::string cert, key;
  int err = 0;
  if (!read_small_file(cert_path, cert, err))
    fail("cannot read " + cert_path + ": " + std::strerror(err));
  if (!read_small_file(key_path, key, err))
    fail("cannot read " + key_path + ": " + std::strerror(err));
  return identity_of(cert, key, cert_path + " / " + key_path);
}

tls_identity load_or_create_identity(const std::string& dir) {
  // Key and certificate in one file, so that it appears whole or not at all.
  const std::string path = dir + "/identity.pem";
  std::string pem;
  int err = 0;
  if (!read_small_file(path, pem, err)) {
    if (err != ENOENT) fail("cannot read " + path + ": " + std::strerror(err));
    make_private_dirs(dir);
    tls_identity id = generate_identity();
    write_new_file(dir, "identity.pem", id.key_pem + id.cert_pem);  // or another's won
    if (!read_small_file(path, pem, err)) fail("cannot read " + path + ": " + std::strerror(err));
  }
  return identity_of(pem, pem, path);
}

std::string fingerprint_of_pem(std::string_view cert_pem) {
  x509_ptr cert = cert_from_pem(cert_pem);
  EVP_PKEY* pub = cert ? X509_get0_pubkey(cert.get()) : nullptr;
  return pub ? key_fingerprint(pub) : std::string();
}

std::string fingerprint_of_der(std::string_view cert_der) {
  const auto* p = reinterpret_cast<const unsigned char*>(cert_der.data());
  x509_ptr cert(d2i_X509(nullptr, &p, static_cast<long>(cert_der.size())));
  EVP_PKEY* pub = cert ? X509_get0_pubkey(cert.get()) : nullptr;
  return pub ? key_fingerprint(pub) : std::string();
}

bool is_fingerprint(std::string_view text) noexcept {
  constexpr std::string_view prefix = "SHA256:";
  if (text.size() != prefix.size() + 43 || text.substr(0, prefix.size()) != prefix) return false;
  for (char c : text.substr(prefix.size())) {
    bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
    if (!b64) return false;
  }
  return true;
}

}  // namespace sockit::service
