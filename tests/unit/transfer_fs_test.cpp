// Test that the header is self-contained: it comes first.
#include "sockit/service/transfer_fs.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>

#include "sockit/net/error.hpp"

namespace sockit::service {
namespace {

TEST(TransferFs, PeerModesAreMasked) {
  EXPECT_EQ(peer_file_mode(07777, 022), 0755u);
  EXPECT_EQ(peer_file_mode(0666, 0), 0664u);  // never world-writable, whatever the umask
  EXPECT_EQ(peer_file_mode(-1, 022), 0644u);
  EXPECT_EQ(peer_dir_mode(03777, 022), 0755u);
  EXPECT_EQ(peer_dir_mode(0, 077), 0700u);  // the owner keeps rwx
  EXPECT_EQ(peer_dir_mode(-1, 022), 0755u);
  mode_t m = ::umask(027);
  EXPECT_EQ(current_umask(), 027u);
  ::umask(m);
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sockit-fs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

using TransferFsDir = TempDir;

TEST_F(TransferFsDir, DirChainRefusesSymlinksAndCreatesWhenAsked) {
  std::error_code ec;
  unique_fd root = open_root_dir(dir_, ec);
  ASSERT_FALSE(ec);
  std::vector<std::string> chain{"a", "b"};
  open_dir_chain(root.get(), chain, false, 0755, ec);
  EXPECT_TRUE(ec);  // missing, not created
  unique_fd b = open_dir_chain(root.get(), chain, true, 0755, ec);
  EXPECT_FALSE(ec);
  EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/a/b"));
  std::filesystem::create_symlink("/tmp", dir_ + "/link");
  std::vector<std::string> via_link{"link", "x"};
  open_dir_chain(root.get(), via_link, true, 0755, ec);
  EXPECT_EQ(ec, transfer_errc::unsafe_name);
}

TEST_F(TransferFsDir, ExistingDirsThenMakeThenUndo) {
  std::error_code ec;
  unique_fd root = open_root_dir(dir_, ec);
  std::filesystem::create_directory(dir_ + "/a");
  std::vector<std::string> chain{"a", "b", "c"};
  std::size_t depth = 9;
  unique_fd a = open_existing_dirs(root.get(), chain, depth, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(depth, 1u);  // "a" is there, "b" is not: nothing created
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/a/b"));
  std::vector<bool> made;
  std::span<const std::string> rest(chain.data() + 1, 2);
  unique_fd c = make_dirs(a.get(), rest, 0755, made, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(made, (std::vector<bool>{true, true}));
  EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/a/b/c"));
  open_existing_dirs(root.get(), chain, depth, ec);
  EXPECT_EQ(depth, 3u);
  EXPECT_EQ(remove_empty_dirs(a.get(), rest), 2u);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/a/b"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/a"));
  // Not empty: left as it is.
  make_dirs(a.get(), rest, 0755, made, ec);
  std::filesystem::create_directory(dir_ + "/a/b/keep");
  EXPECT_EQ(remove_empty_dirs(a.get(), rest), 1u);  // c only: b holds "keep"
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/a/b/keep"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/a/b/c"));
  std::filesystem::create_symlink("/tmp", dir_ + "/link");
  std::vector<std::string> via_link{"link", "x"};
  open_existing_dirs(root.get(), via_link, depth, ec);
  EXPECT_EQ(ec, transfer_errc::unsafe_name);
}

TEST_F(TransferFsDir, SweepRemovesOnlyOldUnclaimedPartials) {
  std::error_code ec;
  unique_fd root = open_root_dir(dir_, ec);
  std::filesystem::create_directories(dir_ + "/s/t");
  for (const char* p : {"/.old.sockit-part", "/s/t/.old2.sockit-part", "/s/.held.sockit-part",
                        "/s/.new.sockit-part", "/s/old-but-not-partial"}) {
    unique_fd f(::open((dir_ + p).c_str(), O_WRONLY | O_CREAT, 0600));
    ASSERT_TRUE(f);
  }
  auto now = std::filesystem::file_time_type::clock::now();
  for (const char* p : {"/.old.sockit-part", "/s/t/.old2.sockit-part", "/s/.held.sockit-part",
                        "/s/old-but-not-partial"}) {
    std::filesystem::last_write_time(dir_ + p, now - std::chrono::hours(48));
  }
  auto cutoff = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch() - std::chrono::hours(24))
                    .count();
  std::mutex mu;
  std::vector<std::string> gone;
  std::size_t n = sweep_partials(
      root.get(), cutoff, 1000, &mu,
      [](const std::string& rel) { return rel != "s/.held.sockit-part"; },
      [&](const std::string& rel, std::uint64_t, std::int64_t) { gone.push_back(rel); });
  EXPECT_EQ(n, 2u);
  std::sort(gone.begin(), gone.end());
  EXPECT_EQ(gone, (std::vector<std::string>{".old.sockit-part", "s/t/.old2.sockit-part"}));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/s/.held.sockit-part"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/s/.new.sockit-part"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/s/old-but-not-partial"));
}

TEST_F(TransferFsDir, ReservedSpaceIsGivenBackWhereNothingWasWritten) {
  std::error_code ec;
  unique_fd root = open_root_dir(dir_, ec);
  unique_fd f(::openat(root.get(), "f", O_RDWR | O_CREAT, 0600));
  constexpr std::uint64_t mib = 1 << 20;
  reserve_space(f.get(), 0, 64 * mib, ec);
  ASSERT_FALSE(ec) << ec.message();
  struct stat st {};
  ::fstat(f.get(), &st);
  EXPECT_EQ(st.st_size, 0);  // the size still says how far the upload got
  std::string data(4096, 'x');
  write_at(f.get(), data, 0, true, ec);
  release_reserved(f.get());  // interrupted: only what was written stays allocated
  ::fstat(f.get(), &st);
  EXPECT_LT(static_cast<std::uint64_t>(st.st_blocks) * 512, mib);
  reserve_space(f.get(), 0, 64 * mib, ec);
  write_at(f.get(), data, 32 * mib, true, ec);
  ASSERT_EQ(::ftruncate(f.get(), 64 * mib), 0);
  release_unwritten(f.get(), 64 * mib);  // a sparse upload stays sparse
  ::fstat(f.get(), &st);
  EXPECT_LT(static_cast<std::uint64_t>(st.st_blocks) * 512, mib);
}

TEST_F(TransferFsDir, SparseWritesPromoteAndNoReplace) {
  std::error_code ec;
  unique_fd root = open_root_dir(dir_, ec);
  unique_fd f(::openat(root.get(), ".f.sockit-part", O_RDWR | O_CREAT, 0600));
  ASSERT_TRUE(f);
  std::string zeros(1 << 20, '\0');
  write_at(f.get(), "head", 0, true, ec);
  write_at(f.get(), zeros, 4, true, ec);  // skipped: left as a hole
  write_at(f.get(), "tail", 4 + zeros.size(), true, ec);
  finish_file(f.get(), 8 + zeros.size(), 0640, 1'000'000'000'500, ec);
  ASSERT_FALSE(ec);
  struct stat st {};
  ASSERT_EQ(::fstat(f.get(), &st), 0);
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), 8 + zeros.size());
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1000);
  char mid[4];
  ASSERT_EQ(::pread(f.get(), mid, 4, 1000), 4);
  EXPECT_EQ(std::string(mid, 4), std::string(4, '\0'));
  promote(root.get(), ".f.sockit-part", "f", false, ec);
  EXPECT_FALSE(ec);
  unique_fd g(::openat(root.get(), ".g.sockit-part", O_RDWR | O_CREAT, 0600));
  promote(root.get(), ".g.sockit-part", "f", false, ec);
  EXPECT_EQ(ec, transfer_errc::name_exists);  // never replaced without overwrite
  promote(root.get(), ".g.sockit-part", "f", true, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/f"), 0u);
}

TEST_F(TransferFsDir, FinishDirSetsModeAndMtimeKeepingOwnerAccess) {
  std::error_code ec;
  unique_fd root = open_root_dir(dir_, ec);
  std::vector<std::string> chain{"d"};
  unique_fd d = open_dir_chain(root.get(), chain, true, 0755, ec);
  ASSERT_FALSE(ec);
  finish_dir(d.get(), 0550, 1'400'000'000'123'456'789, ec);
  ASSERT_FALSE(ec);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);  // the owner keeps rwx for later uploads
  EXPECT_EQ(st.st_mtim.tv_sec, 1'400'000'000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 123'456'789);
  finish_dir(d.get(), -1, -1, ec);  // leave both
  ASSERT_EQ(::stat((dir_ + "/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'400'000'000);
}

TEST_F(TransferFsDir, SyncFilesReportsPerFile) {
  std::vector<unique_fd> files;
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    files.emplace_back(
        ::open((dir_ + "/f" + std::to_string(i)).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_TRUE(files.back());
    ASSERT_EQ(::write(files.back().get(), "x", 1), 1);
    fds.push_back(files.back().get());
  }
  for (auto& e : sync_files(fds)) EXPECT_FALSE(e);
  EXPECT_FALSE(sync_files(std::span<const int>(fds.data(), 1))[0]);
  std::vector<int> bad{fds[0], -1};
  auto r = sync_files(bad);
  EXPECT_FALSE(r[0]);
  EXPECT_TRUE(r[1]);  // a descriptor that cannot be synced is reported, not skipped
}

TEST_F(TransferFsDir, UnnamedFileLinkedInOnlyOnceAndNeverReplaces) {
  std::error_code ec;
  unique_fd root = open_root_dir(dir_, ec);
  unique_fd f = open_unnamed(root.get(), ec);
  if (ec) GTEST_SKIP() << "no O_TMPFILE here: " << ec.message();
  ASSERT_EQ(::write(f.get(), "data", 4), 4);
  EXPECT_TRUE(std::filesystem::is_empty(dir_));  // no name until linked
  link_unnamed(f.get(), root.get(), "a", ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/a"), 4u);
  unique_fd g = open_unnamed(root.get(), ec);
  ASSERT_FALSE(ec);
  link_unnamed(g.get(), root.get(), "a", ec);
  EXPECT_EQ(ec, transfer_errc::name_exists);
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/a"), 4u);
  set_file_attrs(f.get(), UINT64_MAX, 0640, -1, ec);  // size left alone
  EXPECT_FALSE(ec);
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/a"), 4u);
}

}  // namespace
}  // namespace sockit::service
