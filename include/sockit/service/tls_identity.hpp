// tls_identity: a server's TLS identity (its P-256 key and a self-signed SHA-256 certificate
// for it) and the fingerprint clients pin, "SHA256:" + base64 of the SHA-256 of the public
// key (as SSH shows host keys; Syncthing identifies devices the same way). On first use it
// is generated and stored, mode 0600, in the config directory; later runs load it, so the
// identity clients pinned stays the same. No Asio, no TLS session: OpenSSL's libcrypto.
#pragma once

#include <string>
#include <string_view>

namespace sockit::service {

struct tls_identity {
  std::string cert_pem;     // the certificate, PEM
  std::string key_pem;      // its private key, PEM (unencrypted: keep it 0600)
  std::string fingerprint;  // "SHA256:..." of the certificate's public key
};

/// $XDG_CONFIG_HOME/sockit, else $HOME/.config/sockit (not created here).
std::string default_config_dir();

/// Creates `dir` and its missing parents mode 0700 (a config directory holds keys and
/// trusted identities). Throws std::runtime_error naming the part that failed.
void make_private_dirs(const std::string& dir);

/// The identity stored in `dir` (identity.pem: the key, then the certificate), generated and
/// stored first if there is none: `dir` is created mode 0700, the file 0600, written whole
/// and then linked into place, so two servers starting at once end up with one identity. Throws
/// std::runtime_error with a message that names the file on failure (unreadable, malformed, key and
/// certificate that do not match).
tls_identity load_or_create_identity(const std::string& dir);

/// A certificate and key given by the user (--cert, --key). Throws as above.
tls_identity load_identity(const std::string& cert_path, const std::string& key_path);

/// A fresh identity, stored nowhere (tests; `--ephemeral` servers).
tls_identity generate_identity();

/// The fingerprint of a PEM certificate's public key; empty if it is not one.
std::string fingerprint_of_pem(std::string_view cert_pem);
/// The same for a DER certificate (what a TLS handshake hands over).
std::string fingerprint_of_der(std::string_view cert_der);

/// True when `text` has the shape of a fingerprint: "SHA256:" and 43 base64 characters.
bool is_fingerprint(std::string_view text) noexcept;

}  // namespace sockit::service
