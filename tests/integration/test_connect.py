"""sockit connect (like nc): binary-safe piping, half-close on stdin EOF (nc -N), errors."""
import hashlib
import os
import socket
import subprocess
import threading
import unittest

from sockit_test import SOCKIT, Server, TempDir, recv_until_eof, run, spawn, timeout


class PeerServer:
    """A one-shot stdlib TCP server in a thread, written like the seeds' server:
    `handler(conn)` does the talking; the listening socket binds port 0."""

    def __init__(self, handler, family=socket.AF_INET, address=("127.0.0.1", 0)):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(address)
        self.sock.listen(1)
        self.sock.settimeout(timeout(20))
        self.address = self.sock.getsockname()
        self.result = None
        self.error = None

        def serve():
            try:
                conn, _ = self.sock.accept()
                conn.settimeout(timeout(20))
                with conn:
                    self.result = handler(conn)
            except Exception as e:  # reported by join()
                self.error = e

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()

    def join(self):
        self.thread.join(timeout(30))
        self.sock.close()
        if self.error:
            raise self.error
        return self.result

    @property
    def endpoint(self):
        if self.sock.family == socket.AF_UNIX:
            return f"unix:{self.address}"
        return f"{self.address[0]}:{self.address[1]}"


class Connect(unittest.TestCase):
    def test_10_mib_binary_round_trip_through_echo(self):
        data = os.urandom(10 << 20)
        with Server("echo", "127.0.0.1:0") as srv, TempDir() as d:
            src = os.path.join(d, "in.bin")
            with open(src, "wb") as f:
                f.write(data)
            with open(src, "rb") as stdin:
                p = subprocess.run([SOCKIT, "connect", f"127.0.0.1:{srv.port}"], stdin=stdin,
                                   capture_output=True, timeout=timeout(60))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(len(p.stdout), len(data))
            self.assertEqual(hashlib.sha256(p.stdout).hexdigest(),
                             hashlib.sha256(data).hexdigest())

    def test_binary_through_a_pipe_over_unix_socket(self):
        data = os.urandom(1 << 20) + b"\x00\r\n\xff"
        with TempDir() as d:
            path = os.path.join(d, "e.sock")
            with Server("echo", f"unix:{path}") as srv:
                p = run("connect", f"unix:{path}", input=data, timeout_s=60)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertTrue(p.stdout == data, f"{len(p.stdout)} bytes back")

    def test_half_close_then_waits_for_the_reply(self):
        # The peer only answers after it has seen EOF, like a server reading a whole request.
        def handler(conn):
            request = recv_until_eof(conn)
            conn.sendall(b"got %d bytes: " % len(request) + request.upper())
            return request

        peer = PeerServer(handler)
        p = run("connect", peer.endpoint, input=b"question", timeout_s=30)
        self.assertEqual(peer.join(), b"question")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"got 8 bytes: QUESTION")

    def test_empty_stdin_half_closes_at_once(self):
        def handler(conn):
            self.assertEqual(recv_until_eof(conn), b"")
            conn.sendall(b"nothing asked")

        peer = PeerServer(handler)
        p = run("connect", peer.endpoint, input=b"", timeout_s=30)
        peer.join()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"nothing asked")

    def test_no_half_close_exits_at_stdin_eof(self):
        release = threading.Event()

        def handler(conn):
            data = b""
            while len(data) < 4:
                data += conn.recv(10)
            release.wait(timeout(30))  # never closes while sockit runs
            return data

        peer = PeerServer(handler)
        p = run("connect", "--no-half-close", peer.endpoint, input=b"ping", timeout_s=30)
        release.set()
        self.assertEqual(peer.join(), b"ping")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_peer_closing_first_still_gets_the_rest_of_stdin(self):
        # Like nc: the peer's EOF ends only the peer-to-us direction. What we type after it
        # is still delivered (the peer only half-closed), and stdin EOF ends sockit.
        def handler(conn):
            conn.sendall(b"welcome, now talk\n")
            conn.shutdown(socket.SHUT_WR)
            return recv_until_eof(conn)

        peer = PeerServer(handler)
        proc = spawn("connect", peer.endpoint)
        try:
            self.assertEqual(proc.stdout.read(18), b"welcome, now talk\n")
            proc.stdin.write(b"late words")
            proc.stdin.close()
            out = proc.stdout.read()
            proc.wait(timeout(20))
            self.assertEqual(proc.returncode, 0, proc.stderr.read())
            self.assertEqual(out, b"")
            self.assertEqual(peer.join(), b"late words")
        finally:
            proc.stdin.close()
            proc.stdout.close()
            proc.stderr.close()
            if proc.poll() is None:
                proc.kill()

    def test_peer_reset_is_an_error(self):
        import struct

        def handler(conn):
            conn.recv(10)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

        peer = PeerServer(handler)
        proc = spawn("connect", peer.endpoint)
        try:
            proc.stdin.write(b"hi")
            proc.stdin.flush()
            proc.wait(timeout(20))
            err = proc.stderr.read().decode()
            self.assertEqual(proc.returncode, 1, err)
            self.assertIn("reset", err)
        finally:
            proc.stdin.close()
            proc.stdout.close()
            proc.stderr.close()
            if proc.poll() is None:
                proc.kill()
        peer.join()

    def test_closed_port_is_a_clear_error(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # bound but never listening: connections are refused
        p = run("connect", f"127.0.0.1:{port}", input=b"x", timeout_s=20)
        self.assertEqual(p.returncode, 1)
        err = p.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn(f"127.0.0.1:{port}", err)
        self.assertIn("refused", err.lower())
        self.assertEqual(p.stdout, b"")

    def test_missing_unix_socket_is_a_clear_error(self):
        with TempDir() as d:
            path = os.path.join(d, "nobody.sock")
            p = run("connect", f"unix:{path}", input=b"", timeout_s=20)
            self.assertEqual(p.returncode, 1)
            self.assertIn(path, p.stderr.decode())
            self.assertIn("No such file", p.stderr.decode())

    def test_verbose_reports_counts_on_stderr(self):
        with Server("echo", "127.0.0.1:0") as srv:
            p = run("connect", "-v", f"127.0.0.1:{srv.port}", input=b"12345", timeout_s=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, b"12345")
            err = p.stderr.decode()
            self.assertIn(f"connected to tcp://127.0.0.1:{srv.port}", err)
            self.assertIn("sent 5 bytes, received 5 bytes", err)


if __name__ == "__main__":
    unittest.main()
