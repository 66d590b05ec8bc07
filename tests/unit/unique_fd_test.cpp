// Test that the header is self-contained: it comes first.
#include "sockit/net/unique_fd.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <utility>

namespace sockit::net {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(UniqueFd, ClosesOnDestruction) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    unique_fd fd(raw);
    EXPECT_TRUE(fd);
    EXPECT_EQ(fd.get(), raw);
  }
  EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFd, MoveTransfersOwnershipAndAssignmentClosesTheOld) {
  unique_fd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  unique_fd b(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int old_b = b.get();
  const int raw_a = a.get();
  b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(b.get(), raw_a);
  EXPECT_FALSE(is_open(old_b));
  unique_fd c(std::move(b));
  EXPECT_EQ(c.get(), raw_a);
  EXPECT_TRUE(is_open(raw_a));
}

TEST(UniqueFd, ReleaseGivesUpAndResetCloses) {
  unique_fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int raw = fd.release();
  EXPECT_FALSE(fd);
  EXPECT_TRUE(is_open(raw));
  fd.reset(raw);
  fd.reset();
  EXPECT_FALSE(is_open(raw));
  EXPECT_EQ(fd.get(), -1);
}

}  // namespace
}  // namespace sockit::net
