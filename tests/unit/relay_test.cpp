// Test that the header is self-contained: it comes first.
#include "sockit/service/relay.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <future>
#include <random>
#include <string>
#include <thread>

#include "sockit/net/unique_fd.hpp"

namespace sockit::service {
namespace {

struct fd_pair {
  net::unique_fd r, w;  // for socketpair: r is ours (handed to relay), w the peer's
  void close_r() { r.reset(); }
  void close_w() { w.reset(); }
};

void make_pipe(fd_pair& p) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  p.r.reset(fds[0]);
  p.w.reset(fds[1]);
}

void make_socketpair(fd_pair& p, int type) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds), 0);
  p.r.reset(fds[0]);
  p.w.reset(fds[1]);
  timeval tv{10, 0};  // a broken relay fails the test instead of hanging it
  ::setsockopt(p.w.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    ASSERT_GT(n, 0);
    off += static_cast<std::size_t>(n);
  }
}

std::string read_to_eof(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Runs relay on a thread; the socket end `sock_fd` becomes owned by it.
std::future<relay_result> start_relay(int in_fd, int out_fd, int sock_fd, relay_options o) {
  return std::async(std::launch::async, [=] {
    net::socket s(sock_fd);
    auto r = relay(in_fd, out_fd, s, o);
    s.release();  // the test's fd_pair closes it
    return r;
  });
}

TEST(Relay, StreamHalfClosesOnInputEofAndPrintsUntilThePeerCloses) {
  fd_pair in, out, sock;
  make_pipe(in);
  make_pipe(out);
  make_socketpair(sock, SOCK_STREAM);
  write_all(in.w.get(), "request");
  in.close_w();  // input EOF at once
  auto fut = start_relay(in.r.get(), out.w.get(), sock.r.get(), {});
  // The peer sees the request and then EOF (like nc -N), while the relay keeps reading.
  char buf[64];
  std::string got;
  for (;;) {
    ssize_t n = ::recv(sock.w.get(), buf, sizeof buf, 0);
    ASSERT_GE(n, 0) << "relay did not half-close";
    if (n == 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(got, "request");
  ASSERT_EQ(::send(sock.w.get(), "reply", 5, 0), 5);
  sock.close_w();
  auto r = fut.get();
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_TRUE(r.peer_closed);
  EXPECT_EQ(r.sent, 7u);
  EXPECT_EQ(r.received, 5u);
  out.close_w();
  EXPECT_EQ(read_to_eof(out.r.get()), "reply");
}

TEST(Relay, WithoutHalfCloseInputEofEndsTheRelay) {
  fd_pair in, out, sock;
  make_pipe(in);
  make_pipe(out);
  make_socketpair(sock, SOCK_STREAM);
  write_all(in.w.get(), "bye");
  in.close_w();
  relay_options o;
  o.half_close = false;
  auto r = start_relay(in.r.get(), out.w.get(), sock.r.get(), o)
               .get();  // returns without the peer closing
  EXPECT_FALSE(r.error);
  EXPECT_FALSE(r.peer_closed);
  EXPECT_EQ(r.sent, 3u);
}

TEST(Relay, PeerHalfCloseStillDeliversTheRestOfTheInput) {
  // The peer says everything it has to say and shuts down its side first: nothing we still
  // have to send may be lost (nc does the same), and the relay ends at our input's EOF.
  fd_pair in, out, sock;
  make_pipe(in);
  make_pipe(out);
  make_socketpair(sock, SOCK_STREAM);
  auto fut = start_relay(in.r.get(), out.w.get(), sock.r.get(), {});
  ASSERT_EQ(::send(sock.w.get(), "hi", 2, 0), 2);
  ::shutdown(sock.w.get(), SHUT_WR);  // the seeds' `if not data: break` on our side
  write_all(in.w.get(), "after your EOF");
  char buf[64];
  std::string got;
  while (got.size() < 14) {
    ssize_t n = ::recv(sock.w.get(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << "input sent after the peer's EOF was lost";
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(got, "after your EOF");
  in.close_w();
  auto r = fut.get();
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_TRUE(r.peer_closed);
  EXPECT_EQ(r.sent, 14u);
  EXPECT_EQ(r.received, 2u);
  out.close_w();
  EXPECT_EQ(read_to_eof(out.r.get()), "hi");
}

TEST(Relay, PeerThatIsGoneEntirelyMakesPendingInputAnError) {
  fd_pair in, out, sock;
  make_pipe(in);
  make_pipe(out);
  make_socketpair(sock, SOCK_STREAM);
  auto fut = start_relay(in.r.get(), out.w.get(), sock.r.get(), {});
  ASSERT_EQ(::send(sock.w.get(), "bye", 3, 0), 3);
  sock.close_w();  // closed for good: what we send now cannot arrive
  write_all(in.w.get(), "too late");
  auto r = fut.get();  // ends without waiting for our input's EOF
  EXPECT_TRUE(r.peer_closed);
  EXPECT_TRUE(r.error == std::errc::broken_pipe || r.error == std::errc::connection_reset)
      << r.error.message();
  EXPECT_EQ(r.received, 3u);
}

TEST(Relay, BinaryBothWaysAtOnceWithSmallBuffers) {
  // 4 MiB each way through 4 KiB buffers: the relay must drain the socket while its own
  // sends are blocked, or the two sides would deadlock.
  fd_pair in, out, sock;
  make_pipe(in);
  make_pipe(out);
  make_socketpair(sock, SOCK_STREAM);
  const std::string up = random_bytes(4 << 20, 1), down = random_bytes(4 << 20, 2);
  relay_options o;
  o.buffer_size = 4096;
  auto fut = start_relay(in.r.get(), out.w.get(), sock.r.get(), o);
  std::thread feeder([&] {
    write_all(in.w.get(), up);
    in.close_w();
  });
  std::thread peer_sender([&] {
    std::size_t off = 0;
    while (off < down.size()) {
      ssize_t n = ::send(sock.w.get(), down.data() + off,
                         std::min<std::size_t>(65536, down.size() - off), MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  });
  std::string peer_got;
  std::thread peer_reader([&] {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(sock.w.get(), buf, sizeof buf, 0);
      if (n <= 0) return;  // EOF: the relay half-closed after the input ended
      peer_got.append(buf, static_cast<std::size_t>(n));
    }
  });
  auto out_future = std::async(std::launch::async, [&] { return read_to_eof(out.r.get()); });
  feeder.join();
  peer_sender.join();
  peer_reader.join();
  ::shutdown(sock.w.get(), SHUT_WR);
  auto r = fut.get();
  out.close_w();
  std::string printed = out_future.get();
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_TRUE(peer_got == up) << peer_got.size();
  EXPECT_TRUE(printed == down) << printed.size();
  EXPECT_EQ(r.sent, up.size());
  EXPECT_EQ(r.received, down.size());
}

TEST(Relay, ResetIsAnError) {
  fd_pair in, out, sock;
  make_pipe(in);
  make_pipe(out);
  int fds[2];
  // A TCP-like reset needs TCP; over a socketpair closing with unread data gives ECONNRESET.
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  sock.r.reset(fds[0]);
  sock.w.reset(fds[1]);
  auto fut = start_relay(in.r.get(), out.w.get(), sock.r.get(), {});
  write_all(in.w.get(), "unread by the peer");
  // Wait until the peer has the bytes, then close it without reading them.
  char c;
  ASSERT_EQ(::recv(sock.w.get(), &c, 1, MSG_PEEK), 1);
  sock.close_w();
  auto r = fut.get();
  // Closing with unread data resets the connection: reported as an error, never a hang.
  EXPECT_EQ(r.error, std::errc::connection_reset) << r.error.message();
  EXPECT_FALSE(r.peer_closed);
}

TEST(Relay, OutputClosedIsAnErrorNotACrash) {
  auto old = std::signal(SIGPIPE, SIG_IGN);  // as the CLI does; EPIPE must come back as error
  fd_pair in, out, sock;
  make_pipe(in);
  make_pipe(out);
  make_socketpair(sock, SOCK_STREAM);
  out.close_r();  // nobody reads our output
  auto fut = start_relay(in.r.get(), out.w.get(), sock.r.get(), {});
  ASSERT_EQ(::send(sock.w.get(), "data", 4, 0), 4);
  auto r = fut.get();
  EXPECT_EQ(r.error, std::errc::broken_pipe) << r.error.message();
  std::signal(SIGPIPE, old);
}

TEST(Relay, DatagramsKeepTheirBoundariesAndEmptyOnesArePrinted) {
  fd_pair in, out, sock;
  make_pipe(in);
  make_pipe(out);
  make_socketpair(sock, SOCK_DGRAM);
  relay_options o;
  o.datagram = true;
  o.datagram_linger = std::chrono::milliseconds(300);
  auto fut = start_relay(in.r.get(), out.w.get(), sock.r.get(), o);
  // One read of input is one datagram.
  write_all(in.w.get(), "first");
  char buf[70000];
  ssize_t n = ::recv(sock.w.get(), buf, sizeof buf, 0);
  ASSERT_EQ(n, 5);
  write_all(in.w.get(), "second!");
  n = ::recv(sock.w.get(), buf, sizeof buf, 0);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), "second!");
  // Replies, including an empty datagram, are printed as they come.
  ASSERT_EQ(::send(sock.w.get(), "r1", 2, 0), 2);
  ASSERT_EQ(::send(sock.w.get(), "", 0, 0), 0);
  ASSERT_EQ(::send(sock.w.get(), "r2", 2, 0), 2);
  in.close_w();  // then no reply for 300 ms ends it
  auto t0 = std::chrono::steady_clock::now();
  auto r = fut.get();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250));
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.datagrams_sent, 2u);
  EXPECT_EQ(r.datagrams_received, 3u);
  EXPECT_EQ(r.received, 4u);
  out.close_w();
  EXPECT_EQ(read_to_eof(out.r.get()), "r1r2");
}

TEST(Relay, DatagramLargestPayload) {
  fd_pair in, out, sock;
  make_pipe(in);
  make_pipe(out);
  make_socketpair(sock, SOCK_DGRAM);
  int big = 1 << 20;
  ::setsockopt(sock.r.get(), SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  ::setsockopt(sock.w.get(), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  relay_options o;
  o.datagram = true;
  o.datagram_linger = std::chrono::milliseconds(100);
  auto fut = start_relay(in.r.get(), out.w.get(), sock.r.get(), o);
  // 70000 bytes of input cannot be one datagram: it goes out in reads of at most 65507.
  std::string payload = random_bytes(70000, 5);
  std::thread feeder([&] {
    write_all(in.w.get(), payload);
    in.close_w();
  });
  // Never more than 65507 bytes in one datagram: the largest IPv4 UDP payload.
  static char buf[100000];
  std::size_t total = 0;
  while (total < payload.size()) {
    ssize_t n = ::recv(sock.w.get(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    EXPECT_LE(n, 65507);
    EXPECT_EQ(std::memcmp(buf, payload.data() + total, static_cast<std::size_t>(n)), 0);
    total += static_cast<std::size_t>(n);
  }
  feeder.join();
  auto r = fut.get();
  EXPECT_EQ(r.sent, payload.size());
}

}  // namespace
}  // namespace sockit::service
