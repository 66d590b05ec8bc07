// get_run::plan: what `sockit get NAME...` fetches, from a recursive listing of each NAME.
// Every entry must lie inside the NAME it was listed for; anything else is refused here, so
// nothing is ever written for it.
#include <set>

#include "client_get.hpp"
#include "sockit/net/error.hpp"

namespace sockit::service::client_detail {

void get_run::refuse(const std::string& entry, std::string why) {
  file_result r;
  r.name = entry;
  r.code = "unsafe_name";
  r.message = std::move(why);
  results_.push_back(std::move(r));
}

// Expands names into files (and directories to create) with a recursive listing each.
// False when the get ends here (a listing failed other than not_found).
bool get_run::plan(const std::vector<std::string>& names) {
  std::error_code ec;
  std::set<std::string> seen;  // a name listed twice is fetched once
  for (const auto& name : names) {
    // What was asked, as components: every entry the server lists must lie inside it. A
    // hostile server answering `get photos` with `.ssh` or `.git/hooks/pre-commit` must not
    // get them written next to photos.
    std::vector<std::string> want;
    if (!name.empty()) want = split_safe_name(name, ec);
    if (ec) {
      refuse(name, "not a valid name (section 5 of PROTOCOL.md)");
      ec.clear();
      continue;
    }
    std::string why;
    bool cut_short = false;
    auto entries = client_.ls(name, true, ec, why, &cut_short);
    if (!ec && cut_short) {
      // Fetch what was listed, and say that it is not all: a silent partial tree would
      // look like a complete one.
      file_result r;
      r.name = name;
      r.code = result_code(make_error_code(errc::body_too_large));
      r.message = "the server cut its listing short at its limits: not every file was fetched";
      results_.push_back(r);
    }
    if (ec) {
      file_result r;
      r.name = name;
      r.code = result_code(ec);
      r.message = why;
      results_.push_back(r);
      if (ec != transfer_errc::not_found) return false;
      ec.clear();
      continue;
    }
    // `get a/b` writes b/... into out_dir: the components before the last are dropped.
    const std::size_t keep_from = want.empty() ? 0 : want.size() - 1;
    auto place = [&](const std::string& entry, std::vector<std::string>& local) {
      std::error_code pec;
      auto parts = split_safe_name(entry, pec);
      if (pec) {
        refuse(entry, "the server listed an unsafe name; nothing written for it");
        return false;
      }
      if (parts.size() < want.size() || !std::equal(want.begin(), want.end(), parts.begin())) {
        refuse(entry, "the server listed it for '" + name +
                          "', but it is not inside that name; nothing written for it");
        return false;
      }
      local.assign(parts.begin() + static_cast<std::ptrdiff_t>(keep_from), parts.end());
      return true;
    };
    auto joined = [](const std::vector<std::string>& parts) {
      std::string text;
      for (const auto& p : parts) text += (text.empty() ? "" : "/") + p;
      return text;
    };
    bool is_dir = !(entries.size() == 1 && entries[0].name == name && entries[0].type == "file");
    if (is_dir && !want.empty()) {
      // A listing holds a directory's entries, not the directory: its mode and mtime come
      // from its parent's (one level) listing.
      get_job top{name, want.back(), {want.back()}, 0, true};
      std::string parent = joined(std::vector<std::string>(want.begin(), want.end() - 1));
      std::error_code pec;
      std::string pwhy;
      auto siblings = client_.ls(parent, false, pec, pwhy);
      if (pec && pec != transfer_errc::not_found) {
        file_result r;
        r.name = name;
        r.code = result_code(pec);
        r.message = pwhy;
        results_.push_back(r);
        return false;
      }
      for (const auto& e : siblings) {
        if (e.name == name && e.type == "dir") {
          top.mode = static_cast<int>(e.mode & 0777);
          top.mtime_ns = e.mtime_ns;
        }
      }
      if (seen.insert(top.local).second) jobs_.push_back(std::move(top));
    }
    for (auto& e : entries) {
      if (e.type != "file" && e.type != "dir") continue;
      std::vector<std::string> local;
      if (!place(e.name, local)) continue;
      get_job j{e.name, joined(local), std::move(local), e.size, e.type == "dir"};
      if (!seen.insert(j.local).second) continue;
      if (j.dir) {
        j.mode = static_cast<int>(e.mode & 0777);
        j.mtime_ns = e.mtime_ns;
      }
      jobs_.push_back(std::move(j));
    }
  }
  return true;
}

}  // namespace sockit::service::client_detail
