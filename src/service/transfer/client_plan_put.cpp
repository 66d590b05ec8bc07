// plan_put: what `sockit put PATH...` uploads, found on the local file system (directories
// walked, symlinks and names the protocol cannot carry skipped with the reason).
#include <algorithm>
#include <filesystem>

#include "client_support.hpp"
#include "sockit/net/error.hpp"
#include "sockit/service/transfer_fs.hpp"

namespace sockit::service {

using client_detail::sendable_name;

std::vector<put_item> plan_put(const std::vector<std::string>& paths, const std::string& stdin_name,
                               std::vector<std::string>& skipped, std::error_code& ec,
                               std::string& why) {
  namespace fs = std::filesystem;
  std::vector<put_item> items;
  ec.clear();
  for (const auto& p : paths) {
    if (p == "-") {
      if (stdin_name.empty()) {
        ec = transfer_errc::unsafe_name;
        why = "'-' (stdin) needs --name";
        return {};
      }
      std::error_code nec;
      split_safe_name(stdin_name, nec);
      if (nec) {
        ec = nec;
        why = "--name: " + nec.message();
        return {};
      }
      items.push_back({put_item::kind::stdin_stream, p, stdin_name});
      continue;
    }
    fs::path path(p);
    std::error_code sec;
    auto st = fs::symlink_status(path, sec);
    if (sec) {
      ec = sec;
      why = "cannot read " + p + ": " + sec.message();
      return {};
    }
    fs::path norm = path.lexically_normal();
    std::string base = norm.filename().string();
    if (base.empty() || base == "." || base == "..") {
      base = fs::absolute(norm, sec).lexically_normal().filename().string();
      if (base.empty())
        base = fs::absolute(norm, sec).lexically_normal().parent_path().filename().string();
    }
    if (fs::is_symlink(st)) {
      skipped.push_back(p + " (symlink, not followed)");
      continue;
    }
    // The server accepts only names its rule accepts (valid UTF-8, no control characters,
    // NAME_MAX per component): anything else is skipped here with the reason, not sent (a
    // name that is not UTF-8 cannot even be put in a JSON header).
    if (!sendable_name(base)) {
      skipped.push_back(p + " (name not valid UTF-8 or not allowed by the protocol)");
      continue;
    }
    if (fs::is_regular_file(st)) {
      items.push_back({put_item::kind::file, p, base});
      continue;
    }
    if (!fs::is_directory(st)) {
      skipped.push_back(p + " (not a regular file or directory)");
      continue;
    }
    items.push_back({put_item::kind::directory, p, base});
    // recursive_directory_iterator does not follow directory symlinks by default.
    std::vector<put_item> found;
    for (auto it = fs::recursive_directory_iterator(path, sec);
         !sec && it != fs::recursive_directory_iterator(); it.increment(sec)) {
      // Lexical: the iterator's paths all start with `path` (fs::relative would canonicalise
      // both, a readlink per component per file).
      std::string rel = base + "/" + it->path().lexically_relative(path).generic_string();
      auto est = it->symlink_status(sec);
      if (!sendable_name(rel)) {
        skipped.push_back(it->path().string() +
                          " (name not valid UTF-8 or not allowed by the protocol)");
        if (fs::is_directory(est)) it.disable_recursion_pending();
      } else if (fs::is_symlink(est)) {
        skipped.push_back(it->path().string() + " (symlink, not followed)");
      } else if (fs::is_directory(est)) {
        found.push_back({put_item::kind::directory, it->path().string(), rel});
      } else if (fs::is_regular_file(est)) {
        found.push_back({put_item::kind::file, it->path().string(), rel});
      } else {
        skipped.push_back(it->path().string() + " (not a regular file)");
      }
    }
    if (sec) {
      ec = sec;
      why = "cannot walk " + p + ": " + sec.message();
      return {};
    }
    // Directories before the files in them; a stable order makes runs comparable.
    std::sort(found.begin(), found.end(),
              [](const put_item& a, const put_item& b) { return a.remote_name < b.remote_name; });
    items.insert(items.end(), found.begin(), found.end());
  }
  return items;
}

}  // namespace sockit::service
