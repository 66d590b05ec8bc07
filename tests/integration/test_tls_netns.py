"""sockit serve between two machines: two network namespaces joined by a veth pair, made
and removed by this test (the network rule: traffic only inside namespaces the test
created). A TLS transfer with the printed token and a pinned identity works across them;
a --plain server without a token refuses the other "machine" (protected mode) unless
--public. Needs root (ip netns); skipped, saying so, without it."""
import os
import subprocess
import time
import unittest

from sockit_test import SOCKIT, TempDir, read_line, timeout

TAG = f"sk{os.getpid() % 100000}"
NS_SERVER, NS_CLIENT = f"{TAG}s", f"{TAG}c"
SERVER_IP, CLIENT_IP = "10.231.7.1", "10.231.7.2"


def ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)


def can_make_namespaces():
    if os.geteuid() != 0:
        return False
    r = ip("netns", "add", f"{TAG}probe")
    if r.returncode != 0:
        return False
    ip("netns", "del", f"{TAG}probe")
    return True


@unittest.skipUnless(can_make_namespaces(), "needs root and ip netns")
class TwoMachines(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        steps = [
            ("netns", "add", NS_SERVER), ("netns", "add", NS_CLIENT),
            ("link", "add", f"{TAG}a", "type", "veth", "peer", "name", f"{TAG}b"),
            ("link", "set", f"{TAG}a", "netns", NS_SERVER),
            ("link", "set", f"{TAG}b", "netns", NS_CLIENT),
            ("-n", NS_SERVER, "addr", "add", f"{SERVER_IP}/24", "dev", f"{TAG}a"),
            ("-n", NS_CLIENT, "addr", "add", f"{CLIENT_IP}/24", "dev", f"{TAG}b"),
            ("-n", NS_SERVER, "link", "set", f"{TAG}a", "up"),
            ("-n", NS_CLIENT, "link", "set", f"{TAG}b", "up"),
            ("-n", NS_SERVER, "link", "set", "lo", "up"),
            ("-n", NS_CLIENT, "link", "set", "lo", "up"),
        ]
        for s in steps:
            r = ip(*s)
            if r.returncode != 0:
                cls.tearDownClass()
                raise AssertionError(f"ip {' '.join(s)}: {r.stderr}")

    @classmethod
    def tearDownClass(cls):
        ip("netns", "del", NS_SERVER)
        ip("netns", "del", NS_CLIENT)

    def setUp(self):
        self.tmp = TempDir()
        self.d = self.tmp.__enter__()
        self.served = os.path.join(self.d, "served")
        os.mkdir(self.served)
        self.src = os.path.join(self.d, "notes.txt")
        with open(self.src, "w") as f:
            f.write("between machines\n")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
            try:
                p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
        self.tmp.__exit__(None, None, None)

    def serve(self, *extra):
        p = subprocess.Popen(["ip", "netns", "exec", NS_SERVER, SOCKIT, "serve", self.served,
                              f"{SERVER_IP}:0", *extra], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.procs.append(p)
        line = read_line(p.stdout, timeout(10))
        self.assertTrue(line.startswith("listening on "), line)
        endpoint = line.split()[2]
        identity = line.split("identity ", 1)[1].rstrip(")\n") if "identity " in line else None
        return p, endpoint, identity

    def client(self, *args, token=None):
        env = {k: v for k, v in os.environ.items() if k != "SOCKIT_TOKEN"}
        if token:
            env["SOCKIT_TOKEN"] = token
        return subprocess.run(["ip", "netns", "exec", NS_CLIENT, SOCKIT, *args],
                              capture_output=True, timeout=timeout(30), env=env)

    def test_a_pinned_tls_put_with_the_printed_token(self):
        p, endpoint, identity = self.serve()
        token = None
        while token is None:
            line = read_line(p.stderr, timeout(10))
            if line.startswith("token "):
                token = line.split()[1]
        r = self.client("put", "--pin", identity, self.src, endpoint, token=token)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.served, "notes.txt")) as f:
            self.assertEqual(f.read(), "between machines\n")
        r = self.client("ls", "--pin", identity, endpoint, token="f" * 32)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"wrong token", r.stderr)

    def test_protected_mode_refuses_another_machine_unless_public(self):
        _, endpoint, identity = self.serve("--plain")
        self.assertIsNone(identity)
        r = self.client("put", "--plain", self.src, endpoint)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"--public", r.stderr)
        self.assertEqual(os.listdir(self.served), [])
        _, endpoint, _ = self.serve("--plain", "--public")
        r = self.client("put", "--plain", self.src, endpoint)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.listdir(self.served), ["notes.txt"])


if __name__ == "__main__":
    unittest.main()
