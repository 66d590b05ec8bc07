"""`chat serve --tls` and private rooms (`--token-file`), with `sockit chat join`, Python's
ssl module, `ncat --ssl` and `nc` as members (docs/SECURITY.md)."""
import os
import shutil
import ssl
import subprocess
import threading
import unittest

from sockit_test import LinePeer, Server, TempDir, run, timeout
from test_tls import env_with

TOKEN = "0123456789abcdef0123456789abcdef"


class TlsPeer(LinePeer):
    """A LinePeer over TLS 1.3 (no certificate check: the tests pin with sockit's client)."""

    def __init__(self, srv, timeout_s=10):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(srv.connect(timeout_s))
        self.buf = b""


class ChatTls(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir()
        self.d = self.tmp.__enter__()
        self.token_file = os.path.join(self.d, "token")
        with open(self.token_file, "w") as f:
            f.write(TOKEN + "\n")

    def tearDown(self):
        self.tmp.__exit__(None, None, None)

    def test_tls_room_joined_by_sockit_and_python_and_a_plaintext_client_is_told(self):
        with Server("chat", "serve", "--tls", "127.0.0.1:0") as srv:
            self.assertRegex(srv.identity or "", r"^SHA256:")
            py = TlsPeer(srv)
            self.assertEqual(py.sock.version(), "TLSv1.3")
            py.until(b"welcome")
            nc = srv.connect()
            nc.sendall(b"plaintext words\n")
            told = nc.recv(4096)
            self.assertIn(b"speaks TLS", told)
            nc.close()
            r = run("chat", "join", "--tls", "--pin", srv.identity, "--nick", "alice",
                    srv.endpoint, input=b"hello over TLS\n/quit\n", env=env_with())
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("<alice> hello over TLS", py.until(b"hello over TLS"))
            # The other way: a second TLS member hears the first.
            other = TlsPeer(srv)
            other.until(b"welcome")
            py.sock.sendall(b"and back\n")
            other.until(b"and back")
            _, out, _ = srv.stop()
            self.assertNotIn("plaintext words", out)
            self.assertIn("tls: a plaintext client", out)

    def test_join_refuses_an_unpinned_room_and_needs_tls_for_trust_options(self):
        with Server("chat", "serve", "--tls", "127.0.0.1:0") as srv:
            r = run("chat", "join", "--tls", srv.endpoint, input=b"secret\n", env=env_with())
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"unknown server identity", r.stderr)
            r = run("chat", "join", "--pin", srv.identity, srv.endpoint, input=b"", env=env_with())
            self.assertEqual(r.returncode, 2)
            _, out, _ = srv.stop()
            self.assertNotIn("secret", out)

    def test_private_room_takes_the_right_token_only(self):
        with Server("chat", "serve", "--token-file", self.token_file, "127.0.0.1:0") as srv:
            good = LinePeer(srv)
            good.until(b"private")
            good.sock.sendall(TOKEN.encode() + b"\n/nick bob\n")
            good.until(b"welcome")
            good.until(b"is now known as bob")
            bad = LinePeer(srv)
            bad.until(b"private")
            bad.sock.sendall(b"ffffffffffffffffffffffffffffffff\nlet me in\n")
            self.assertIn("wrong token", bad.until(b"***"))
            with self.assertRaises(EOFError):
                bad.until(b"let me in")
            r = run("chat", "join", srv.endpoint, input=b"anyone?\n", env=env_with(TOKEN))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("anyone?", good.until(b"anyone?"))
            r = run("chat", "join", srv.endpoint, input=b"no token\n", env=env_with())
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"this room is private", r.stderr)
            r = run("chat", "join", "--token-file", self.token_file, srv.endpoint,
                    input=b"from a file\n", env=env_with())
            self.assertEqual(r.returncode, 0, r.stderr)
            good.until(b"from a file")
            _, out, _ = srv.stop()
            self.assertIn("wrong token (1 from this address)", out)
            self.assertNotIn("let me in", out)
            self.assertNotIn("no token", out)

    def test_strangers_in_their_opening_do_not_fill_a_private_room(self):
        with Server("chat", "serve", "--token-file", self.token_file, "--max-clients", "2",
                    "127.0.0.1:0") as srv:
            idle = [srv.connect() for _ in range(3)]  # connect, say nothing
            for s in idle:
                self.assertIn(b"private", s.recv(4096))
            r = run("chat", "join", srv.endpoint, input=b"still room for me\n",
                    env=env_with(TOKEN))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"welcome", r.stdout)
            for s in idle:
                s.close()

    def test_a_token_is_never_said_in_a_public_room(self):
        with Server("chat", "serve", "127.0.0.1:0") as srv:
            watcher = LinePeer(srv)
            watcher.until(b"welcome")
            r = run("chat", "join", srv.endpoint, input=b"just hi\n", env=env_with(TOKEN))
            self.assertEqual(r.returncode, 0, r.stderr)
            watcher.until(b"just hi")
            _, out, _ = srv.stop()
            self.assertNotIn(TOKEN, out)

    def test_private_tls_room_over_python_ssl(self):
        with Server("chat", "serve", "--tls", "--token-file", self.token_file,
                    "127.0.0.1:0") as srv:
            p = TlsPeer(srv)
            p.until(b"private")
            p.sock.sendall(TOKEN.encode() + b"\n")
            p.until(b"welcome")
            r = run("chat", "join", "--tls", "--pin", srv.identity, srv.endpoint,
                    input=b"both secrets\n", env=env_with(TOKEN))
            self.assertEqual(r.returncode, 0, r.stderr)
            p.until(b"both secrets")

    def test_a_tls_flooder_does_not_get_tls_readers_dropped(self):
        # TLS members are written by their writer coroutines, not by the flush pass: a
        # flooder's reader must wait for those writes too, or honest readers' queues fill.
        # No --rate: the pacing alone must keep the readers.
        with Server("chat", "serve", "--tls", "127.0.0.1:0", "--rate", "0") as srv:
            readers = [TlsPeer(srv, timeout_s=60) for _ in range(4)]
            for r in readers:
                r.until(b"welcome")
            got = [None] * len(readers)

            def read_all(i):
                try:
                    got[i] = readers[i].until(b"LAST-LINE", limit=100000)
                except (EOFError, OSError, AssertionError) as e:
                    got[i] = repr(e)

            threads = [threading.Thread(target=read_all, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            flooder = TlsPeer(srv)
            flooder.until(b"welcome")
            flooder.sock.sendall(b"x" * 200 + b"\n" * 1 + (b"y" * 200 + b"\n") * 20000 +
                                 b"LAST-LINE\n")
            for t in threads:
                t.join(timeout(60))
            for line in got:
                self.assertIn("LAST-LINE", line or "")
            _, out, _ = srv.stop()
            self.assertNotIn("dropped", out.replace("0 dropped", ""))

    @unittest.skipUnless(shutil.which("ncat"), "ncat missing")
    def test_ncat_ssl_member(self):
        with Server("chat", "serve", "--tls", "127.0.0.1:0") as srv:
            watcher = TlsPeer(srv)
            watcher.until(b"welcome")
            n = subprocess.run(["ncat", "--ssl", "127.0.0.1", str(srv.port)],
                               input=b"/nick carol\nfrom ncat\n/quit\n", capture_output=True,
                               timeout=timeout(20))
            self.assertEqual(n.returncode, 0, n.stderr)
            self.assertIn(b"bye", n.stdout)
            self.assertIn("<carol> from ncat", watcher.until(b"from ncat"))


if __name__ == "__main__":
    unittest.main()
