// The seeds' file-upload client: the classic header {file_size, file_name, md5} with its
// 4-byte length, then the bytes - or, with --native, sockit's verified, pipelined protocol.
// Usage: file_upload_client ENDPOINT FILE... [--native]
#include <cstdio>
#include <cstring>
#include <sockit/service/transfer_client.hpp>
#include <string>
#include <vector>

namespace svc = sockit::service;

int main(int argc, char** argv) {
  std::vector<std::string> files;
  bool native = false;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--native") == 0) {
      native = true;
    } else {
      files.emplace_back(argv[i]);
    }
  }
  if (argc < 3 || files.empty()) {
    std::fprintf(stderr, "usage: file_upload_client ENDPOINT FILE... [--native]\n");
    return 2;
  }
  try {
    auto endpoint = sockit::net::endpoint::parse(argv[1]);
    std::error_code ec;
    std::string why;
    std::vector<svc::file_result> results;
    if (native) {
      svc::transfer_client client;
      client.connect(endpoint, ec, why);
      if (ec) throw std::runtime_error(why);
      std::vector<std::string> skipped;
      results = client.put(svc::plan_put(files, "", skipped, ec, why), {});
    } else {
      results = svc::transfer_client::put_classic(endpoint, files, {}, ec, why);
    }
    if (ec) throw std::runtime_error(why);
    int failed = 0;
    for (const auto& r : results) {
      std::printf("%s %s (%llu bytes, hash %s)\n", r.ok() ? "sent" : "failed", r.name.c_str(),
                  static_cast<unsigned long long>(r.file_size), r.hash.c_str());
      failed += r.ok() ? 0 : 1;
    }
    return failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "file_upload_client: %s\n", e.what());
    return 1;
  }
}
