// Test that the header is self-contained: it comes first.
#include "sockit/service/known_hosts.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace sockit::service {
namespace {

const std::string fp_a = "SHA256:" + std::string(43, 'A');
const std::string fp_b = "SHA256:" + std::string(43, 'B');

TEST(KnownHosts, ParsesEntriesSkipsCommentsAndCountsBrokenLines) {
  std::size_t bad = 0;
  auto hosts = parse_known_hosts("# comment\n\ntcp://h:1 " + fp_a + "\n  tcp://h:2\t" + fp_b +
                                     "  \r\ntcp://h:3 SHA256:short\nlonely\n",
                                 &bad);
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts[0].endpoint, "tcp://h:1");
  EXPECT_EQ(hosts[0].fingerprint, fp_a);
  EXPECT_EQ(hosts[1].endpoint, "tcp://h:2");
  EXPECT_EQ(bad, 2u);
}

TEST(KnownHosts, AddThenFindTheLastWins) {
  char tmpl[] = "/tmp/sockit-known-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/d/known_hosts";
  EXPECT_FALSE(find_known_host(path, "tcp://h:1"));
  add_known_host(path, "tcp://h:1", fp_a);
  EXPECT_EQ(find_known_host(path, "tcp://h:1").value_or(""), fp_a);
  EXPECT_FALSE(find_known_host(path, "tcp://h:2"));
  add_known_host(path, "tcp://h:1", fp_b);
  EXPECT_EQ(find_known_host(path, "tcp://h:1").value_or(""), fp_b);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THROW(add_known_host(path, "two words", fp_a), std::runtime_error);
  EXPECT_THROW(add_known_host(path, "tcp://h:1", "SHA256:nope"), std::runtime_error);
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace sockit::service
