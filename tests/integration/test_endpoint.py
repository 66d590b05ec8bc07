"""Endpoint parsing through the CLI: every accepted form works end to end, and bad input
gives a non-zero exit and one clear line naming what is wrong."""
import os
import socket
import unittest

from sockit_test import Server, TempDir, has_ipv6_loopback, recv_exactly, run

BAD = [
    ("", "empty"),
    ("localhost", "missing port"),
    ("localhost:", "missing port"),
    ("127.0.0.1:65536", "out of range"),
    ("127.0.0.1:99999999999999999999", "out of range"),
    ("127.0.0.1:-5", "neither a number nor a service"),
    ("127.0.0.1:nosuchservice", "unknown service 'nosuchservice'"),
    ("::1:80", "brackets"),
    ("[::1", "']'"),
    ("[::1]", "missing port"),
    ("[::1]80", "':'"),
    ("[zz::1]:80", "'zz::1' is not an IPv6 address"),
    ("bad host:80", "'bad host'"),
    ("http://127.0.0.1:80", "unknown scheme 'http://'"),
    ("tcp://", "missing host and port"),
    ("unix:", "empty path"),
    ("unix:@", "abstract"),
    ("unix:/" + "x" * 200, "107"),
]


class BadEndpoints(unittest.TestCase):
    def test_each_command_rejects_bad_endpoints_clearly(self):
        for text, mention in BAD:
            for cmd in (["echo"], ["connect"], ["listen"], ["bench", "echo"]):
                with self.subTest(cmd=cmd[0], endpoint=text):
                    p = run(*cmd, text, input=b"", timeout_s=10)
                    self.assertNotEqual(p.returncode, 0)
                    err = p.stderr.decode()
                    lines = err.strip().splitlines()
                    self.assertEqual(len(lines), 1, err)
                    self.assertIn(mention, err)
                    self.assertIn("sockit: error:", err)
                    self.assertEqual(p.stdout, b"")


class GoodEndpoints(unittest.TestCase):
    def _echo_via(self, listen_text, connect_text, family=socket.AF_INET):
        with Server("echo", listen_text) as srv:
            port = srv.port
            p = run("connect", connect_text.format(port=port), input=b"via " + listen_text.encode(),
                    timeout_s=20)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, b"via " + listen_text.encode())
            return srv.endpoint

    def test_host_port(self):
        self.assertTrue(self._echo_via("127.0.0.1:0", "127.0.0.1:{port}").startswith("tcp://"))

    def test_tcp_prefix(self):
        self._echo_via("tcp://127.0.0.1:0", "tcp://127.0.0.1:{port}")

    def test_all_interfaces_forms(self):
        # ':0' and a bare '0' listen everywhere; clients reach them over IPv4 loopback.
        for text in (":0", "0"):
            with self.subTest(endpoint=text):
                self._echo_via(text, "127.0.0.1:{port}")

    def test_localhost_name(self):
        self._echo_via("localhost:0", "localhost:{port}")

    def test_service_name_is_looked_up(self):
        # Nobody listens on the echo service's port 7 here; the error shows it was resolved.
        p = run("connect", "127.0.0.1:echo", input=b"", timeout_s=10)
        if p.returncode == 0:
            self.skipTest("something listens on port 7")
        self.assertIn("127.0.0.1:7", p.stderr.decode())

    @unittest.skipUnless(has_ipv6_loopback(), "no IPv6 loopback (::1)")
    def test_ipv6_brackets(self):
        ep = self._echo_via("[::1]:0", "[::1]:{port}")
        self.assertTrue(ep.startswith("tcp://[::1]:"), ep)

    def test_unix_forms(self):
        with TempDir() as d:
            path = os.path.join(d, "e.sock")
            with Server("echo", f"unix:{path}") as srv:
                p = run("connect", f"unix:{path}", input=b"path", timeout_s=20)
                self.assertEqual(p.stdout, b"path")
        name = f"sockit-endpoint-test-{os.getpid()}"
        with Server("echo", f"unix:@{name}") as srv:
            p = run("connect", f"unix:@{name}", input=b"abstract", timeout_s=20)
            self.assertEqual(p.stdout, b"abstract")


if __name__ == "__main__":
    unittest.main()
