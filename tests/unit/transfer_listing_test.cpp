// Test that the header is self-contained: it comes first.
#include "sockit/service/transfer_listing.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace sockit::service {
namespace {

namespace fs = std::filesystem;

struct temp_tree {
  fs::path root;
  temp_tree() {
    char tmpl[] = "/tmp/sockit-listing-XXXXXX";
    root = ::mkdtemp(tmpl);
  }
  ~temp_tree() { fs::remove_all(root); }
  void file(const fs::path& rel) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << "x";
  }
  unique_fd open(const std::string& rel = ".") const {
    return unique_fd(::open((root / rel).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
};

// Lists in pieces of at most `piece` bytes (plus one entry); name -> type, checking each
// name comes once, that every piece stays near its bound and that a directory's line comes
// before its contents.
std::map<std::string, std::string> list_all(dir_listing& l, std::size_t piece,
                                            const std::string& top = "",
                                            std::size_t* pieces = nullptr) {
  std::map<std::string, std::string> seen;
  std::size_t n = 0;
  while (!l.done()) {
    std::string out;
    std::size_t added = l.next(out, piece);
    EXPECT_LE(out.size(), piece + 512);
    std::size_t lines = 0;
    for (std::size_t at = 0; at < out.size();) {
      std::size_t nl = out.find('\n', at);
      auto j = nlohmann::json::parse(out.substr(at, nl - at));
      std::string name = j["name"];
      if (auto slash = name.rfind('/');
          slash != std::string::npos && name.substr(0, slash) != top) {
        auto parent = seen.find(name.substr(0, slash));
        EXPECT_TRUE(parent != seen.end() && parent->second == "dir") << name;
      }
      EXPECT_TRUE(seen.emplace(name, j["type"]).second) << name;
      at = nl + 1;
      ++lines;
    }
    EXPECT_EQ(lines, added);
    ++n;
  }
  if (pieces) *pieces = n;
  return seen;
}

TEST(TransferListing, RecursiveInSmallPiecesListsEverythingOnce) {
  temp_tree t;
  // Many entries per directory (~28 KiB of records: over one 16 KiB getdents buffer) and
  // subdirectories among them, so levels are left and resumed mid-buffer.
  for (int d = 0; d < 4; ++d) {
    fs::path dir = "d";
    dir += std::to_string(d);
    for (int f = 0; f < 400; ++f) {
      fs::path name = dir / "f";
      name += std::to_string(f);
      name += "-with-a-longer-name-so-that-records-fill-buffers";
      t.file(name);
    }
    t.file(dir / "sub" / "deeper" / "x");
  }
  t.file(".hidden.sockit-part");  // a partial: never listed
  fs::create_directory_symlink("/", t.root / "link");
  dir_listing l(t.open(), "", true);
  std::size_t pieces = 0;
  auto seen = list_all(l, 2048, "", &pieces);
  EXPECT_EQ(seen.size(), 4u * (1 + 400 + 3) + 1);  // dN, its files, sub, deeper, x; link
  EXPECT_EQ(seen["link"], "symlink");              // listed, never entered
  EXPECT_EQ(seen.count(".hidden.sockit-part"), 0u);
  EXPECT_EQ(seen["d3/sub/deeper/x"], "file");
  EXPECT_GT(pieces, 80u);
  EXPECT_EQ(l.count(), seen.size());
  EXPECT_FALSE(l.truncated());
}

TEST(TransferListing, PrefixAndNonRecursive) {
  temp_tree t;
  t.file("a/b/c");
  t.file("a/d");
  dir_listing l(t.open("a"), "a", false);
  auto seen = list_all(l, 1 << 20, "a");
  EXPECT_EQ(seen, (std::map<std::string, std::string>{{"a/b", "dir"}, {"a/d", "file"}}));
}

TEST(TransferListing, LimitsTruncate) {
  temp_tree t;
  t.file("1/2/3/4/5/f");
  for (int i = 0; i < 50; ++i) t.file("many/" + std::to_string(i));
  {
    dir_listing l(t.open("1"), "1", true, dir_listing::limits{1000, 2});
    auto seen = list_all(l, 1 << 20, "1");
    EXPECT_EQ(seen.size(), 2u);  // 1/2 (entered), 1/2/3 (listed, not entered)
    EXPECT_TRUE(l.truncated());
  }
  {
    dir_listing l(t.open("many"), "many", true, dir_listing::limits{10, 128});
    EXPECT_EQ(list_all(l, 1 << 20, "many").size(), 10u);
    EXPECT_TRUE(l.truncated());
  }
}

TEST(TransferListing, DescriptorsAreCappedAcrossListings) {
  temp_tree t;
  t.file("a/b/c/d/e/f");
  t.file("x/y/z/w/v/u");
  std::size_t before = dir_listing::open_levels();
  dir_listing::limits lim{1000, 128, before + 4};
  {
    dir_listing a(t.open("a"), "a", true, lim);
    std::string out;
    for (int i = 0; i < 4; ++i) {
      out.clear();
      a.next(out, 1);  // one entry each: b, c, d, e entered
    }
    EXPECT_EQ(dir_listing::open_levels(), before + 4);
    // Another listing while `a` holds the share: it lists what it can, says truncated.
    {
      dir_listing x(t.open("x"), "x", true, lim);
      EXPECT_EQ(list_all(x, 1 << 20, "x").size(), 1u);  // x/y, not entered
      EXPECT_TRUE(x.truncated());
    }
    out.clear();
    while (!a.done()) a.next(out, 1 << 20);
    EXPECT_FALSE(a.truncated());
    EXPECT_EQ(dir_listing::open_levels(), before);
  }
  dir_listing x(t.open("x"), "x", true, lim);
  EXPECT_EQ(list_all(x, 1 << 20, "x").size(), 5u);  // the share is free again
  EXPECT_FALSE(x.truncated());
  {
    dir_listing held(t.open("a"), "a", true, lim);
    std::string out;
    held.next(out, 1);
    EXPECT_EQ(dir_listing::open_levels(), before + 1);
  }  // a listing given up mid-walk gives its levels back
  EXPECT_EQ(dir_listing::open_levels(), before);
}

TEST(TransferListing, ASubdirectoryThatCannotBeOpenedTruncates) {
  temp_tree t;
  std::string deep = "d";
  for (int i = 0; i < 19; ++i) deep += "/d";
  t.file(deep + "/f");
  unique_fd top = t.open();
  // Three descriptors left (whatever the cap allows): the walk runs out of them at depth 3.
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  int lowest = ::dup(0);
  ASSERT_GE(lowest, 0);
  ::close(lowest);
  rlimit few = old;
  few.rlim_cur = static_cast<rlim_t>(lowest + 3);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &few), 0);
  dir_listing l(std::move(top), "", true, dir_listing::limits{1000, 128, SIZE_MAX});
  std::string out;
  while (!l.done()) l.next(out, 1 << 20);
  ::setrlimit(RLIMIT_NOFILE, &old);
  EXPECT_LT(l.count(), 21u);  // 20 directories and f, had every level opened
  EXPECT_GE(l.count(), 3u);
  EXPECT_TRUE(l.truncated());
}

TEST(TransferListing, EachListingHasItsOwnPosition) {
  temp_tree t;
  for (int i = 0; i < 20; ++i) t.file(std::to_string(i));
  unique_fd root = t.open();
  for (int round = 0; round < 3; ++round) {
    // What the server does for `ls ""`: a fresh open of ".", never a dup of the root.
    dir_listing l(unique_fd(::openat(root.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)), "",
                  false);
    EXPECT_EQ(list_all(l, 1 << 20).size(), 20u) << round;
  }
  dir_listing none(unique_fd{}, "", true);  // a directory that could not be opened
  EXPECT_TRUE(none.done());
}

}  // namespace
}  // namespace sockit::service
