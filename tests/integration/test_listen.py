"""sockit listen (like nc -l): the seeds' two-way chat, byte-exact in both directions, -k for
one peer after another, the readiness line on stderr, and nc/connect as peers."""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
import unittest

from sockit_test import (SOCKIT, Server, TempDir, read_line, recv_exactly, recv_until_eof, run,
                         timeout)


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Listen(unittest.TestCase):
    def test_readiness_on_stderr_and_stdout_is_data_only(self):
        with Server("listen", "127.0.0.1:0", ready_on="stderr", stdin=subprocess.PIPE) as srv:
            self.assertTrue(srv.endpoint.startswith("tcp://127.0.0.1:"), srv.endpoint)
            c = srv.connect()
            srv.proc.stdin.write(b"from listener\n")
            srv.proc.stdin.flush()
            self.assertEqual(recv_exactly(c, 14), b"from listener\n")
            c.sendall(b"from peer\n")
            c.close()
            srv.proc.stdin.close()
            out = srv.proc.stdout.read()
            srv.proc.wait(timeout(20))
            self.assertEqual(srv.proc.returncode, 0)
            self.assertEqual(out, b"from peer\n")

    def test_json_readiness_line(self):
        with Server("listen", "127.0.0.1:0", "--json", ready_on="stderr", json_mode=True) as srv:
            self.assertTrue(srv.endpoint.startswith("tcp://127.0.0.1:"))
            c = srv.connect()
            c.close()
            srv.proc.wait(timeout(20))
            self.assertEqual(srv.proc.stdout.read(), b"")

    def test_connect_and_listen_10_mib_each_way_at_once(self):
        up = os.urandom(10 << 20)
        down = os.urandom(10 << 20)
        with TempDir() as d:
            up_path, down_path = os.path.join(d, "up"), os.path.join(d, "down")
            with open(up_path, "wb") as f:
                f.write(up)
            with open(down_path, "wb") as f:
                f.write(down)
            with open(down_path, "rb") as listen_in, \
                    Server("listen", "127.0.0.1:0", ready_on="stderr", stdin=listen_in) as srv:
                # Drain the listener's stdout while the client runs, or both would stall.
                listened = []
                reader = threading.Thread(target=lambda: listened.append(srv.proc.stdout.read()))
                reader.start()
                with open(up_path, "rb") as connect_in:
                    client = subprocess.run([SOCKIT, "connect", f"127.0.0.1:{srv.port}"],
                                            stdin=connect_in, capture_output=True,
                                            timeout=timeout(60))
                srv.proc.wait(timeout(30))
                reader.join(timeout(30))
                listened = listened[0]
                self.assertEqual(client.returncode, 0, client.stderr)
                self.assertEqual(srv.proc.returncode, 0, srv.proc.stderr.read())
                self.assertEqual(len(listened), len(up))
                self.assertEqual(sha(listened), sha(up))
                self.assertEqual(len(client.stdout), len(down))
                self.assertEqual(sha(client.stdout), sha(down))

    def test_10_mib_from_listener_to_peer(self):
        data = os.urandom(10 << 20)
        with TempDir() as d:
            path = os.path.join(d, "file")
            with open(path, "wb") as f:
                f.write(data)
            with open(path, "rb") as stdin, \
                    Server("listen", "127.0.0.1:0", ready_on="stderr", stdin=stdin) as srv:
                client = subprocess.run([SOCKIT, "connect", f"127.0.0.1:{srv.port}"],
                                        stdin=subprocess.DEVNULL, capture_output=True,
                                        timeout=timeout(60))
                srv.proc.wait(timeout(30))
                self.assertEqual(client.returncode, 0, client.stderr)
                self.assertEqual(srv.proc.returncode, 0)
                self.assertEqual(sha(client.stdout), sha(data))

    def test_keep_open_serves_two_peers_in_turn(self):
        with Server("listen", "127.0.0.1:0", "-k", "-v", ready_on="stderr") as srv:
            for name in (b"first", b"second"):
                c = srv.connect()
                c.sendall(b"hello from " + name + b"\n")
                # The listener's stdin is /dev/null: it half-closes at once, so we see EOF.
                self.assertEqual(recv_until_eof(c), b"")
                c.close()
                self.assertEqual(read_line(srv.proc.stdout, timeout(10)),
                                 "hello from " + name.decode() + "\n")
            rc, out, err = srv.stop()
            self.assertEqual(err.count("connection from tcp://127.0.0.1:"), 2, err)

    def test_without_keep_open_exits_after_one_peer(self):
        with Server("listen", "127.0.0.1:0", ready_on="stderr") as srv:
            c = srv.connect()
            c.sendall(b"only")
            c.close()
            srv.proc.wait(timeout(20))
            self.assertEqual(srv.proc.returncode, 0)
            self.assertEqual(srv.proc.stdout.read(), b"only")
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection((srv.host, srv.port), timeout=timeout(5))

    def test_unix_listen_and_cleanup(self):
        with TempDir() as d:
            path = os.path.join(d, "chat.sock")
            with Server("listen", f"unix:{path}", ready_on="stderr") as srv:
                self.assertEqual(srv.endpoint, f"unix:{path}")
                p = run("connect", f"unix:{path}", input=b"over unix", timeout_s=20)
                self.assertEqual(p.returncode, 0, p.stderr)
                srv.proc.wait(timeout(20))
                self.assertEqual(srv.proc.stdout.read(), b"over unix")
            self.assertFalse(os.path.exists(path))

    @unittest.skipUnless(shutil.which("nc"), "netcat-openbsd not installed")
    def test_nc_as_the_peer(self):
        with Server("listen", "127.0.0.1:0", ready_on="stderr", stdin=subprocess.PIPE) as srv:
            srv.proc.stdin.write(b"hello nc\n")
            srv.proc.stdin.close()
            nc = subprocess.run(["nc", "-N", "127.0.0.1", str(srv.port)], input=b"hello sockit\n",
                                capture_output=True, timeout=timeout(20))
            srv.proc.wait(timeout(20))
            self.assertEqual(nc.stdout, b"hello nc\n")
            self.assertEqual(srv.proc.stdout.read(), b"hello sockit\n")

    def test_udp_listen_first_sender_becomes_the_peer(self):
        with Server("listen", "127.0.0.1:0", "--udp", "-w", "0.5", ready_on="stderr",
                    stdin=subprocess.PIPE) as srv:
            self.assertTrue(srv.endpoint.startswith("udp://127.0.0.1:"), srv.endpoint)
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.settimeout(timeout(5))
            u.sendto(b"knock", (srv.host, srv.port))
            self.assertEqual(srv.proc.stdout.read(5), b"knock")
            srv.proc.stdin.write(b"who is there")
            srv.proc.stdin.flush()
            data, addr = u.recvfrom(100)
            self.assertEqual(data, b"who is there")
            srv.proc.stdin.close()
            srv.proc.wait(timeout(20))
            self.assertEqual(srv.proc.returncode, 0)
            u.close()

    def test_busy_port_is_a_clear_error(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        p = run("listen", f"127.0.0.1:{port}", timeout_s=20)
        s.close()
        self.assertEqual(p.returncode, 1)
        err = p.stderr.decode()
        self.assertIn("in use", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)


if __name__ == "__main__":
    unittest.main()
