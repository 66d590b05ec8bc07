// Test that the header is self-contained: it comes first.
#include "sockit/service/access_token.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>

namespace sockit::service {
namespace {

TEST(AccessToken, GeneratedTokensAre128BitsOfHexAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto t = generate_token();
    ASSERT_EQ(t.size(), 32u);
    EXPECT_EQ(t.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(AccessToken, EqualOnlyWhenEqual) {
  EXPECT_TRUE(tokens_equal("abc", "abc"));
  EXPECT_FALSE(tokens_equal("abc", "abd"));
  EXPECT_FALSE(tokens_equal("abc", "abcd"));
  EXPECT_FALSE(tokens_equal("", "a"));
}

TEST(AccessToken, FileIsItsFirstLineTrimmed) {
  std::string path = "/tmp/sockit-token-test-" + std::to_string(::getpid());
  std::ofstream(path) << "  s3cret \r\nignored\n";
  EXPECT_EQ(read_token_file(path), "s3cret");
  std::ofstream(path) << "\n";
  EXPECT_THROW(read_token_file(path), std::runtime_error);
  std::ofstream(path) << "a\x1b[2Jb\n";
  EXPECT_THROW(read_token_file(path), std::runtime_error);
  std::ofstream(path) << std::string(2000, 'x');
  EXPECT_THROW(read_token_file(path), std::runtime_error);
  std::remove(path.c_str());
  EXPECT_THROW(read_token_file(path), std::runtime_error);
}

TEST(AccessToken, FromTheEnvironment) {
  ::setenv("SOCKIT_TOKEN", " abc ", 1);
  EXPECT_EQ(token_from_environment(), "abc");
  ::unsetenv("SOCKIT_TOKEN");
  EXPECT_EQ(token_from_environment(), "");
}

}  // namespace
}  // namespace sockit::service
