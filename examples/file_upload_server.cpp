// The seeds' file-upload server, on sockit's transfer service: accepts the tutorials' classic
// uploads (struct.pack('i', len(head)) + {"file_size","file_name","md5"} + bytes) and
// sockit put, and stores a file only after its size and hash check out.
// Usage: file_upload_server DIR [ENDPOINT] [SECONDS]  (serves for SECONDS, default 30)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sockit/service/transfer_server.hpp>
#include <thread>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: file_upload_server DIR [ENDPOINT] [SECONDS]\n");
    return 2;
  }
  try {
    sockit::service::transfer_server_options opt;
    opt.root = argv[1];
    opt.endpoint = sockit::net::endpoint::parse(argc > 2 ? argv[2] : "127.0.0.1:8888");
    sockit::service::transfer_server server(opt);
    server.on_event([](const sockit::service::transfer_event& e) {
      using T = sockit::service::transfer_event::type;
      if (e.what == T::stored || e.what == T::failed) {
        // A real program would escape peer-supplied names before printing (sockit does).
        std::printf("%s %zu bytes: %s\n", e.what == T::stored ? "stored" : "rejected",
                    static_cast<std::size_t>(e.bytes), e.detail.c_str());
        std::fflush(stdout);
      }
    });
    server.start();
    std::printf("listening on %s\n", server.local_endpoint().to_string().c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(argc > 3 ? std::atoi(argv[3]) : 30));
    server.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "file_upload_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
