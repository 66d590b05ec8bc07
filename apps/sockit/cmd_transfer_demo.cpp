// `sockit demo` steps for the seeds' sticky packets (粘包) and file upload: the effect
// itself, the frame decoder separating the messages, and a verified upload + download.
#include <fmt/format.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.hpp"
#include "output.hpp"
#include "sockit/codec/frame.hpp"
#include "sockit/net/socket.hpp"
#include "sockit/service/access_token.hpp"
#include "sockit/service/tls_identity.hpp"
#include "sockit/service/transfer_client.hpp"
#include "sockit/service/transfer_server.hpp"

namespace sockit::cli {
namespace {

struct loopback_pair {
  net::socket server, client;
};

loopback_pair connect_loopback() {
  std::error_code ec;
  std::string why;
  auto listener = net::socket::listen(net::endpoint::parse("127.0.0.1:0"), ec, &why);
  if (ec) throw std::runtime_error(why);
  auto bound = listener.local_address().to_endpoint();
  loopback_pair p;
  p.client = net::socket::connect(bound, ec, &why);
  if (ec) throw std::runtime_error(why);
  p.server = listener.accept(nullptr, ec);
  if (ec) throw std::runtime_error("accept: " + ec.message());
  return p;
}

// Waits (bounded, by poll + FIONREAD, no sleeps) until `n` bytes are queued on `fd`.
void wait_queued(int fd, int n) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < end) {
    int queued = 0;
    if (::ioctl(fd, FIONREAD, &queued) == 0 && queued >= n) return;
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 10);
  }
  throw std::runtime_error("bytes did not arrive within 5 s");
}

std::string step_sticky() {
  auto p = connect_loopback();
  std::error_code ec;
  p.client.send_all(net::as_bytes("hello"), ec);  // two separate send() calls ...
  p.client.send_all(net::as_bytes("world"), ec);
  if (ec) throw std::runtime_error(ec.message());
  wait_queued(p.server.native_handle(), 10);
  char buf[1024];
  auto n = p.server.recv(std::as_writable_bytes(std::span(buf)), ec);  // ... one recv()
  if (ec) throw std::runtime_error(ec.message());
  std::string got(buf, n);
  if (got != "helloworld") throw std::runtime_error("unexpected bytes: " + got);
  return "send('hello') + send('world') arrived as ONE recv(1024): b'helloworld' - the "
         "boundary is gone";
}

std::string step_decoder() {
  auto p = connect_loopback();
  std::string wire;
  codec::append_frame(wire, nlohmann::json{{"op", "msg"}, {"n", 1}}, "hello");
  codec::append_frame(wire, nlohmann::json{{"op", "msg"}, {"n", 2}}, "world");
  std::error_code ec;
  p.client.send_all(net::as_bytes(wire), ec);
  if (ec) throw std::runtime_error(ec.message());
  wait_queued(p.server.native_handle(), static_cast<int>(wire.size()));
  std::vector<char> buf(4096);
  auto n = p.server.recv(std::as_writable_bytes(std::span(buf)), ec);
  codec::decoder d;
  std::vector<codec::frame> frames;
  if (!d.feed(std::string_view(buf.data(), n), frames, ec)) throw std::runtime_error(ec.message());
  // And the same bytes one at a time give the same two frames.
  codec::decoder slow;
  std::vector<codec::frame> again;
  for (std::size_t i = 0; i < n; ++i) slow.feed(std::string_view(buf.data() + i, 1), again, ec);
  if (frames.size() != 2 || again.size() != 2 || frames[0].body != "hello" ||
      frames[1].body != "world" || again[1].body != "world") {
    throw std::runtime_error("decoder did not separate the frames");
  }
  return fmt::format(
      "one recv() of {} bytes -> 2 frames (4-byte length | JSON header | body): "
      "'hello', 'world'; fed byte by byte: the same 2",
      n);
}

// A directory under /tmp with a "served" subdirectory, removed with everything in it when
// the step ends (also when it throws).
struct demo_dir {
  std::filesystem::path path;
  explicit demo_dir(const std::string& prefix)
      : path(std::filesystem::temp_directory_path() / fmt::format("{}-{}", prefix, ::getpid())) {
    std::filesystem::create_directories(path / "served");
  }
  ~demo_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::string step_upload() {
  namespace fs = std::filesystem;
  demo_dir dir("sockit-demo");
  const fs::path& base = dir.path;
  fs::create_directories(base / "back");
  std::string data(3 * 1024 * 1024 + 5, '\0');
  std::mt19937_64 rng(42);
  for (auto& c : data) c = static_cast<char>(rng());
  {
    std::ofstream(base / "文件.bin", std::ios::binary)
        .write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  service::transfer_server_options so;
  so.root = (base / "served").string();
  so.endpoint = net::endpoint::parse("127.0.0.1:0");
  so.threads = 1;
  service::transfer_server server(so);
  server.start();
  std::error_code ec;
  std::string why;
  service::transfer_client up;
  up.connect(server.local_endpoint(), ec, why);
  if (ec) throw std::runtime_error(why);
  std::vector<std::string> skipped;
  auto items = service::plan_put({(base / "文件.bin").string()}, "", skipped, ec, why);
  auto put = up.put(items, {});
  if (put.size() != 1 || !put[0].ok()) throw std::runtime_error("upload failed");
  service::transfer_client down;
  down.connect(server.local_endpoint(), ec, why);
  if (ec) throw std::runtime_error(why);
  auto got = down.get({"文件.bin"}, (base / "back").string(), {});
  server.stop();
  if (got.size() != 1 || !got[0].ok() || got[0].hash != put[0].hash) {
    throw std::runtime_error("download failed or hash differs");
  }
  std::ifstream in(base / "back" / "文件.bin", std::ios::binary);
  std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (back != data) throw std::runtime_error("downloaded bytes differ");
  return fmt::format(
      "put 文件.bin ({} bytes) to sockit serve, got it back: XXH3-128 {} on both "
      "sides, stored only after the check",
      data.size(), put[0].hash);
}

// serve's defaults, between two processes' worth of objects: the server's identity, a client
// with the wrong token refused, the right one sending over TLS 1.3 to the pinned identity.
std::string step_secure_upload() {
  namespace fs = std::filesystem;
  demo_dir dir("sockit-demo-tls");
  const fs::path& base = dir.path;
  std::ofstream(base / "secret.txt") << "only for the token holder\n";
  service::transfer_server_options so;
  so.root = (base / "served").string();
  so.endpoint = net::endpoint::parse("127.0.0.1:0");
  so.threads = 1;
  so.tls = service::generate_identity();  // serve keeps one in $XDG_CONFIG_HOME/sockit
  so.token = service::generate_token();
  service::transfer_server server(so);
  server.start();
  service::transfer_client_options co;
  co.tls = true;
  co.trust.pin = server.identity();
  co.token = service::generate_token();  // not the server's
  std::error_code ec;
  std::string refused;
  service::transfer_client wrong(co);
  wrong.connect(server.local_endpoint(), ec, refused);
  if (!ec) throw std::runtime_error("a wrong token was accepted");
  co.token = so.token;
  service::transfer_client right(co);
  std::string why;
  right.connect(server.local_endpoint(), ec, why);
  if (ec) throw std::runtime_error(why);
  std::vector<std::string> skipped;
  auto items = service::plan_put({(base / "secret.txt").string()}, "", skipped, ec, why);
  auto put = right.put(items, {});
  server.stop();
  if (put.size() != 1 || !put[0].ok() || !fs::exists(base / "served" / "secret.txt"))
    throw std::runtime_error("the upload over TLS failed");
  return fmt::format(
      "identity {}; a wrong token: \"{}\"; the right one: secret.txt stored, "
      "sent inside TLS 1.3 to the pinned identity",
      server.identity(), escape_for_terminal(refused));
}

}  // namespace

demo_step demo_secure_upload() {
  return {"secure by default: TLS, a pinned identity, a token",
          "what sockit serve does between machines: the client checks the server's key "
          "before it sends its token, and a wrong token gets nothing",
          step_secure_upload};
}

demo_step demo_sticky_packets() {
  return {"sticky packets (粘包)",
          "TCP is a byte stream: two quick send()s can arrive in one recv(), so message boundaries "
          "are lost",
          step_sticky};
}

demo_step demo_frames() {
  return {"the fix: length-prefixed frames",
          "a 4-byte length, a JSON header, then the body: the decoder separates the messages "
          "however the bytes arrive",
          step_decoder};
}

demo_step demo_upload() {
  return {"file upload and download, verified",
          "the tutorials' header {file_size, file_name, md5} made safe: hash checked before the "
          "file appears under its name",
          step_upload};
}

}  // namespace sockit::cli
