"""The seeds' classic format: a Python stdlib client written like the tutorials'
(struct.pack('i', len(head)) + JSON head + bytes) against sockit serve, and
`sockit put --classic` against a Python server written like the tutorials'."""
import hashlib
import json
import os
import socket
import struct
import threading
import unittest

from sockit_test import Server, TempDir, recv_until_eof, run, timeout
from transfer_proto import classic


def seed_client_upload(srv, payloads):
    """Exactly the seeds' client: head length, head, file bytes; several files; then close."""
    s = srv.connect()
    for blob in payloads:
        s.sendall(blob)
    s.shutdown(socket.SHUT_WR)
    rest = recv_until_eof(s)  # the server closes once it has read everything
    s.close()
    return rest


class ClassicServe(unittest.TestCase):
    def test_seed_upload_full_path_name_and_md5(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0") as srv:
            a = os.urandom(70000)
            b = "中文内容".encode() * 100
            rest = seed_client_upload(srv, [classic("/a/b/c/d/e/a.txt", a),
                                            classic("C:\\Users\\x\\报告.txt", b),
                                            classic("empty.bin", b"")])
            self.assertEqual(rest, b"")  # classic clients get no replies
            with open(os.path.join(d, "a.txt"), "rb") as f:
                self.assertEqual(f.read(), a)
            with open(os.path.join(d, "报告.txt"), "rb") as f:
                self.assertEqual(f.read(), b)
            self.assertEqual(os.path.getsize(os.path.join(d, "empty.bin")), 0)
            self.assertEqual(sorted(os.listdir(d)), ["a.txt", "empty.bin", "报告.txt"])

    def test_md5_mismatch_stores_nothing(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "-v") as srv:
            data = b"x" * 5000
            seed_client_upload(srv, [classic("bad.txt", data, md5="0" * 32),
                                     classic("good.txt", data)])
            self.assertEqual(sorted(os.listdir(d)), ["good.txt"])  # no file, no partial
            rc, out, err = srv.stop()
            self.assertIn("failed", err)
            self.assertIn("hash_mismatch", err)

    def test_hostile_classic_names_and_no_overwrite(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0", "-v") as srv:
            with open(os.path.join(d, "keep.txt"), "wb") as f:
                f.write(b"original")
            seed_client_upload(srv, [classic("..", b"1"), classic("a/..", b"2"),
                                     classic("esc\x1b[31m.txt", b"3"), classic("new\nline", b"4"),
                                     classic("keep.txt", b"replaced?")])
            self.assertEqual(sorted(os.listdir(d)), ["keep.txt"])
            with open(os.path.join(d, "keep.txt"), "rb") as f:
                self.assertEqual(f.read(), b"original")
            rc, out, err = srv.stop()
            self.assertNotIn("\x1b", err)
            self.assertIn("unsafe_name", err)
            self.assertIn("exists", err)

    def test_negative_or_huge_length_closes(self):
        with TempDir() as d, Server("serve", d, "127.0.0.1:0") as srv:
            for n in (-1, 65537):
                s = srv.connect()
                s.sendall(struct.pack("i", n) + b"{}")
                recv_until_eof(s)  # closed, nothing stored, server still serving
            seed_client_upload(srv, [classic("ok.txt", b"fine")])
            self.assertEqual(os.listdir(d), ["ok.txt"])


class TutorialServer:
    """A server written like the seeds' upload server: recv(4) for the head length,
    recv the head, then recv(65536) until file_size bytes; md5 checked; repeat until EOF."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(timeout(20))
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()

    def recv_exact(self, conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(min(65536, n - len(buf)))
            if not chunk:
                return None
            buf += chunk
        return buf

    def serve(self):
        conn, _ = self.sock.accept()
        conn.settimeout(timeout(20))
        while True:
            raw = self.recv_exact(conn, 4)
            if raw is None:
                break
            (n,) = struct.unpack("i", raw)
            head = json.loads(self.recv_exact(conn, n).decode())
            data = self.recv_exact(conn, head["file_size"]) if head["file_size"] else b""
            ok = hashlib.md5(data).hexdigest() == head["md5"]
            self.received.append((head["file_name"], len(data), ok))
            with open(os.path.join(self.out_dir, os.path.basename(head["file_name"])), "wb") as f:
                f.write(data)
        conn.close()
        self.sock.close()


class PutClassic(unittest.TestCase):
    def test_put_classic_to_tutorial_server(self):
        with TempDir() as d:
            src, dst = os.path.join(d, "src"), os.path.join(d, "dst")
            os.mkdir(src)
            os.mkdir(dst)
            files = {"one.bin": os.urandom(300000), "两.txt": b"hello", "zero": b""}
            for name, data in files.items():
                with open(os.path.join(src, name), "wb") as f:
                    f.write(data)
            server = TutorialServer(dst)
            r = run("put", "--classic", *[os.path.join(src, n) for n in files],
                    f"127.0.0.1:{server.port}")
            server.thread.join(timeout(20))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(sorted(server.received),
                             sorted((n, len(v), True) for n, v in files.items()))
            for name, data in files.items():
                with open(os.path.join(dst, name), "rb") as f:
                    self.assertEqual(f.read(), data)

    def test_put_classic_to_sockit_serve(self):
        with TempDir() as d:
            served = os.path.join(d, "served")
            os.mkdir(served)
            src = os.path.join(d, "c.bin")
            data = os.urandom(123457)
            with open(src, "wb") as f:
                f.write(data)
            with Server("serve", served, "127.0.0.1:0") as srv:
                r = run("put", "--classic", src, srv.endpoint)
                self.assertEqual(r.returncode, 0, r.stderr)
                with open(os.path.join(served, "c.bin"), "rb") as f:
                    self.assertEqual(f.read(), data)


if __name__ == "__main__":
    unittest.main()
