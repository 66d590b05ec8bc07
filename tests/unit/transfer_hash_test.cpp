// Test that the header is self-contained: it comes first.
#include "sockit/service/transfer_hash.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>

namespace sockit::service {
namespace {

std::string digest(hash_algorithm a, std::string_view s) {
  hasher h(a);
  h.update(s);
  return h.hex();
}

TEST(TransferHash, KnownVectors) {
  EXPECT_EQ(digest(hash_algorithm::md5, ""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(digest(hash_algorithm::md5, "abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(digest(hash_algorithm::sha256, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // XXH3-128 of nothing (xxHash's published test value), canonical big-endian hex.
  EXPECT_EQ(digest(hash_algorithm::xxh3, ""), "99aa06d3014798d86001c324468d497f");
  EXPECT_EQ(digest(hash_algorithm::xxh3, "abc").size(), 32u);
}

TEST(TransferHash, IncrementalCloneAndHexDoNotDisturbState) {
  for (auto a : {hash_algorithm::xxh3, hash_algorithm::sha256, hash_algorithm::md5}) {
    std::string data(100000, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
    hasher h(a);
    h.update(std::string_view(data).substr(0, 12345));
    hasher prefix = h;  // a resumed transfer continues from a copy of the prefix state
    EXPECT_EQ(prefix.hex(), h.hex());
    (void)h.hex();  // reading the digest must not finalise the state
    h.update(std::string_view(data).substr(12345));
    prefix.update(std::string_view(data).substr(12345));
    EXPECT_EQ(h.hex(), digest(a, data)) << hash_name(a);
    EXPECT_EQ(prefix.hex(), h.hex());
    h.reset();
    EXPECT_EQ(h.hex(), digest(a, ""));
  }
}

TEST(TransferHash, Names) {
  hash_algorithm a{};
  EXPECT_TRUE(parse_hash_name("sha256", a));
  EXPECT_EQ(a, hash_algorithm::sha256);
  EXPECT_TRUE(parse_hash_name("xxh3", a));
  EXPECT_EQ(hash_name(a), "xxh3");
  EXPECT_FALSE(parse_hash_name("crc32", a));
}

TEST(TransferHash, FileRange) {
  char path[] = "/tmp/sockit-hash-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  std::string data(3 << 20, 'q');
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  hasher h(hash_algorithm::sha256);
  std::error_code ec;
  hash_file_range(fd, 10, data.size() - 10, h, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(h.hex(), digest(hash_algorithm::sha256, std::string_view(data).substr(10)));
  hash_file_range(fd, 0, data.size() + 1, h, ec);  // past the end: an error, not a hang
  EXPECT_TRUE(ec);
  std::atomic<bool> stop{false};
  hasher again(hash_algorithm::sha256);
  hash_file_range(fd, 0, data.size(), again, ec, &stop);
  EXPECT_FALSE(ec);
  EXPECT_EQ(again.hex(), digest(hash_algorithm::sha256, data));
  stop = true;  // a server shutting down: give up rather than read the rest
  hash_file_range(fd, 0, data.size(), again, ec, &stop);
  EXPECT_EQ(ec, std::errc::operation_canceled);
  ::close(fd);
}

}  // namespace
}  // namespace sockit::service
