"""sockit echo against stdlib clients written like the seeds' clients: TCP, Unix, IPv6,
clients that vanish, signals, and the --json event stream."""
import json
import os
import signal
import socket
import struct
import unittest

from sockit_test import (Server, TempDir, closed_by_peer, has_ipv6_loopback, read_json_line,
                         read_line, recv_exactly, recv_until_eof, timeout)

# ASCII letters change; digits, punctuation, NUL, 0xff and every byte of UTF-8 multi-byte
# sequences do not (Python's bytes.upper() is ASCII-only).
MESSAGE = "hello, 世界 ÿ straße abc-XYZ 123\x00\xff".encode("utf-8") + bytes(range(256))


class TcpEcho(unittest.TestCase):
    def test_upper_like_bytes_upper(self):
        with Server("echo", "127.0.0.1:0", "--upper") as srv:
            c = srv.connect()
            c.sendall(MESSAGE)
            self.assertEqual(recv_exactly(c, len(MESSAGE)), MESSAGE.upper())
            c.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_until_eof(c), b"")  # the server closes when we do
            c.close()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            self.assertIn("1 accepted", err)

    def test_plain_echo_is_byte_exact(self):
        with Server("echo", "127.0.0.1:0") as srv:
            c = srv.connect()
            data = os.urandom(300_000)
            # The seeds' communication loop: send, then receive the same amount back.
            for i in range(0, len(data), 30_000):
                chunk = data[i:i + 30_000]
                c.sendall(chunk)
                self.assertEqual(recv_exactly(c, len(chunk)), chunk)
            c.close()
            self.assertEqual(srv.stop()[0], 0)

    def test_many_messages_on_one_connection(self):
        with Server("echo", "127.0.0.1:0", "--upper") as srv:
            c = srv.connect()
            for i in range(200):
                msg = f"message {i} ümlaut".encode()
                c.sendall(msg)
                self.assertEqual(recv_exactly(c, len(msg)), msg.upper())
            c.close()

    def test_vanishing_client_mid_message_does_not_disturb_others(self):
        with Server("echo", "127.0.0.1:0", "--threads", "1") as srv:
            steady = srv.connect()
            steady.sendall(b"before")
            self.assertEqual(recv_exactly(steady, 6), b"before")
            # Half a message, then a reset (SO_LINGER 0 turns close() into RST).
            rude = srv.connect()
            rude.sendall(b"first half of a mess")
            rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            rude.close()
            # Another that just closes while its echo is still on the way.
            quiet = srv.connect()
            quiet.sendall(b"x" * 100_000)
            quiet.close()
            for i in range(20):
                msg = f"still served {i}".encode()
                steady.sendall(msg)
                self.assertEqual(recv_exactly(steady, len(msg)), msg)
            # And new clients are still accepted.
            fresh = srv.connect()
            fresh.sendall(b"new")
            self.assertEqual(recv_exactly(fresh, 3), b"new")
            steady.close()
            fresh.close()
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            self.assertIn("4 accepted", err)

    def test_sigterm_closes_clients_and_prints_summary(self):
        self._stop_with(signal.SIGTERM, "SIGTERM")

    def test_sigint_closes_clients_and_prints_summary(self):
        self._stop_with(signal.SIGINT, "SIGINT")

    def _stop_with(self, sig, name):
        with Server("echo", "127.0.0.1:0") as srv:
            clients = [srv.connect() for _ in range(3)]
            for c in clients:
                c.sendall(b"ping")
                self.assertEqual(recv_exactly(c, 4), b"ping")
            rc, out, err = srv.stop(sig)
            self.assertEqual(rc, 0, err)
            self.assertIn(f"stopped ({name})", err)
            self.assertIn("3 accepted", err)
            self.assertIn("12 bytes echoed", err)
            for c in clients:
                self.assertTrue(closed_by_peer(c), "client left open after shutdown")
            # Nobody listens any more.
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection(srv.address, timeout=timeout(5))

    def test_json_readiness_events_and_summary(self):
        with Server("echo", "127.0.0.1:0", "--json", json_mode=True) as srv:
            self.assertTrue(srv.endpoint.startswith("tcp://127.0.0.1:"))
            c = srv.connect()
            accepted = read_json_line(srv.proc.stdout, timeout(10))
            self.assertEqual(accepted["event"], "accepted")
            self.assertEqual(accepted["peer"], f"tcp://127.0.0.1:{c.getsockname()[1]}")
            c.sendall(b"12345")
            recv_exactly(c, 5)
            c.close()
            closed = read_json_line(srv.proc.stdout, timeout(10))
            self.assertEqual(closed["event"], "closed")
            self.assertEqual(closed["bytes"], 5)
            rc, out, err = srv.stop()
            self.assertEqual(rc, 0, err)
            lines = [json.loads(line) for line in out.splitlines()]  # every line is JSON
            self.assertEqual(lines[-1]["event"], "stopped")
            self.assertEqual(lines[-1]["signal"], "SIGTERM")
            self.assertEqual(lines[-1]["accepted"], 1)
            self.assertEqual(lines[-1]["bytes"], 5)

    def test_verbose_logs_go_to_stderr(self):
        with Server("echo", "127.0.0.1:0", "-v") as srv:
            c = srv.connect()
            line = read_line(srv.proc.stderr, timeout(10))
            self.assertTrue(line.startswith("accepted tcp://127.0.0.1:"), line)
            c.close()
            line = read_line(srv.proc.stderr, timeout(10))
            self.assertTrue(line.startswith("closed tcp://127.0.0.1:"), line)
            srv.stop()

    def test_busy_port_is_a_clear_error(self):
        with Server("echo", "127.0.0.1:0") as srv:
            from sockit_test import run
            r = run("echo", f"127.0.0.1:{srv.port}", timeout_s=10)
            self.assertEqual(r.returncode, 1)
            err = r.stderr.decode()
            self.assertIn("sockit: error:", err)
            self.assertIn(f"127.0.0.1:{srv.port}", err)
            self.assertIn("in use", err)
            self.assertEqual(len(err.strip().splitlines()), 1, err)


class UnixEcho(unittest.TestCase):
    def test_upper_over_unix_path(self):
        with TempDir() as d:
            path = os.path.join(d, "echo.sock")
            with Server("echo", f"unix:{path}", "--upper") as srv:
                self.assertEqual(srv.endpoint, f"unix:{path}")
                c = srv.connect()
                c.sendall(MESSAGE)
                self.assertEqual(recv_exactly(c, len(MESSAGE)), MESSAGE.upper())
                c.close()
                rc, out, err = srv.stop()
                self.assertEqual(rc, 0, err)
            self.assertFalse(os.path.exists(path), "socket file left behind")

    def test_stale_socket_file_is_replaced(self):
        with TempDir() as d:
            path = os.path.join(d, "stale.sock")
            dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            dead.bind(path)  # a file nobody listens on, like one left by a crashed server
            dead.close()
            with Server("echo", f"unix:{path}") as srv:
                c = srv.connect()
                c.sendall(b"fresh")
                self.assertEqual(recv_exactly(c, 5), b"fresh")
                c.close()
                srv.stop()

    def test_live_socket_file_is_not_taken_over(self):
        from sockit_test import run
        with TempDir() as d:
            path = os.path.join(d, "live.sock")
            with Server("echo", f"unix:{path}") as srv:
                r = run("echo", f"unix:{path}", timeout_s=10)
                self.assertEqual(r.returncode, 1)
                self.assertIn("in use", r.stderr.decode())
                c = srv.connect()  # the first server still owns it
                c.sendall(b"mine")
                self.assertEqual(recv_exactly(c, 4), b"mine")
                c.close()
                srv.stop()

    def test_regular_file_is_never_removed(self):
        from sockit_test import run
        with TempDir() as d:
            path = os.path.join(d, "precious.txt")
            with open(path, "w") as f:
                f.write("keep me")
            r = run("echo", f"unix:{path}", timeout_s=10)
            self.assertEqual(r.returncode, 1)
            with open(path) as f:
                self.assertEqual(f.read(), "keep me")

    def test_abstract_socket(self):
        name = f"sockit-test-{os.getpid()}"
        with Server("echo", f"unix:@{name}", "--upper") as srv:
            self.assertEqual(srv.endpoint, f"unix:@{name}")
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.settimeout(timeout(5))
            c.connect("\0" + name)
            c.sendall(b"abstract")
            self.assertEqual(recv_exactly(c, 8), b"ABSTRACT")
            c.close()
            self.assertEqual(srv.stop()[0], 0)


@unittest.skipUnless(has_ipv6_loopback(), "no IPv6 loopback (::1) on this machine")
class Ipv6Echo(unittest.TestCase):
    def test_tcp_over_ipv6_loopback(self):
        with Server("echo", "[::1]:0", "--upper") as srv:
            self.assertTrue(srv.endpoint.startswith("tcp://[::1]:"), srv.endpoint)
            c = srv.connect()
            c.sendall(MESSAGE)
            self.assertEqual(recv_exactly(c, len(MESSAGE)), MESSAGE.upper())
            c.close()
            self.assertEqual(srv.stop()[0], 0)

    def test_udp_over_ipv6_loopback(self):
        with Server("echo", "udp://[::1]:0", "--upper") as srv:
            self.assertTrue(srv.endpoint.startswith("udp://[::1]:"), srv.endpoint)
            u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            u.settimeout(timeout(5))
            u.sendto(b"six", srv.address)
            data, addr = u.recvfrom(100)
            self.assertEqual(data, b"SIX")
            self.assertEqual(addr[1], srv.port)
            self.assertEqual(srv.stop()[0], 0)


if __name__ == "__main__":
    unittest.main()
