// Test that the header is self-contained: it comes first.
#include "sockit/service/tls_identity.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace sockit::service {
namespace {

struct IdentityDir : ::testing::Test {
  std::filesystem::path dir;
  void SetUp() override {
    char tmpl[] = "/tmp/sockit-identity-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
};

TEST(TlsIdentity, GeneratedIdentityHasASha256FingerprintOfItsKey) {
  auto id = generate_identity();
  EXPECT_TRUE(is_fingerprint(id.fingerprint)) << id.fingerprint;
  EXPECT_EQ(fingerprint_of_pem(id.cert_pem), id.fingerprint);
  EXPECT_NE(id.cert_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(id.cert_pem.find("PRIVATE KEY"), std::string::npos);  // never the key with it
  EXPECT_NE(id.key_pem.find("PRIVATE KEY"), std::string::npos);
  EXPECT_NE(generate_identity().fingerprint, id.fingerprint);
}

TEST(TlsIdentity, FingerprintShape) {
  EXPECT_TRUE(is_fingerprint("SHA256:" + std::string(43, 'A')));
  EXPECT_FALSE(is_fingerprint("SHA256:" + std::string(42, 'A')));
  EXPECT_FALSE(is_fingerprint("SHA1:" + std::string(43, 'A')));
  EXPECT_FALSE(is_fingerprint("SHA256:" + std::string(42, 'A') + "="));
  EXPECT_EQ(fingerprint_of_pem("not a certificate"), "");
  EXPECT_EQ(fingerprint_of_der(""), "");
}

TEST_F(IdentityDir, StoredOnFirstUseMode0600AndTheSameAfterwards) {
  auto sub = (dir / "a" / "sockit").string();
  auto first = load_or_create_identity(sub);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "a" / "sockit" / "identity.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(sub.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(load_or_create_identity(sub).fingerprint, first.fingerprint);
}

TEST_F(IdentityDir, UserCertificateAndKeyMustMatch) {
  auto a = generate_identity(), b = generate_identity();
  std::ofstream(dir / "a.crt") << a.cert_pem;
  std::ofstream(dir / "a.key") << a.key_pem;
  std::ofstream(dir / "b.key") << b.key_pem;
  EXPECT_EQ(load_identity((dir / "a.crt").string(), (dir / "a.key").string()).fingerprint,
            a.fingerprint);
  EXPECT_THROW(load_identity((dir / "a.crt").string(), (dir / "b.key").string()),
               std::runtime_error);
  EXPECT_THROW(load_identity((dir / "missing.crt").string(), (dir / "a.key").string()),
               std::runtime_error);
  std::ofstream(dir / "junk.crt") << "-----BEGIN CERTIFICATE-----\nAAAA\n";
  EXPECT_THROW(load_identity((dir / "junk.crt").string(), (dir / "a.key").string()),
               std::runtime_error);
}

}  // namespace
}  // namespace sockit::service
