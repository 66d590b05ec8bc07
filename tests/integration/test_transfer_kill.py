"""SIGKILL the real `sockit put` mid-header and mid-body, then `sockit put --resume`: the file
ends up identical, and nothing appears under its final name before that; a corrupted partial
is detected and the upload restarts. A relay (tests/support/transfer_relay.py) forwards put's
bytes up to an exact point and stops, so the kill lands at a known byte without sleeps."""
import hashlib
import json
import os
import signal
import subprocess
import unittest

from sockit_test import SOCKIT, Server, TempDir, read_json_line, run, timeout
from transfer_relay import CutRelay, in_put_body, in_put_header

MiB = 1024 * 1024
SIZE = 8 * MiB + 12345
CUT = 3 * MiB + 777  # bytes of the body that reach the server before the kill


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class KillThenResume(unittest.TestCase):
    def setUp(self):
        self._tmp = TempDir()
        self.d = self._tmp.__enter__()
        self.served = os.path.join(self.d, "served")
        os.mkdir(self.served)
        self.src = os.path.join(self.d, "big.bin")
        with open(self.src, "wb") as f:
            f.write(os.urandom(SIZE))
        self.srv = Server("serve", self.served, "127.0.0.1:0", "--json", json_mode=True)
        self.final = os.path.join(self.served, "big.bin")
        self.partial = os.path.join(self.served, ".big.bin.sockit-part")

    def tearDown(self):
        self.srv.__exit__()
        self._tmp.__exit__()

    def wait_server_closed(self):
        """Reads the server's events until the killed connection is closed (its partial,
        if any, is then complete and released)."""
        for _ in range(20):
            e = read_json_line(self.srv.proc.stdout, timeout(10))
            if e["event"] == "closed":
                return
        self.fail("the server never reported the connection closed")

    def kill_put_at(self, cut_fn):
        relay = CutRelay((self.srv.host, self.srv.port), cut_fn, deadline_s=timeout(30))
        put = subprocess.Popen([SOCKIT, "put", "--plain", self.src, relay.endpoint],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            relay.wait_cut()
            self.assertIsNone(put.poll(), "put finished although the server had not answered")
            self.assertFalse(os.path.lexists(self.final), "final name before verification")
            put.send_signal(signal.SIGKILL)
            put.communicate(timeout=timeout(10))
            self.assertEqual(put.returncode, -signal.SIGKILL)
        finally:
            if put.poll() is None:
                put.kill()
                put.communicate(timeout=10)
            relay.close()
        self.wait_server_closed()
        self.assertFalse(os.path.lexists(self.final), "final name after the kill")

    def resume(self):
        r = run("put", "--resume", "--json", self.src, self.srv.endpoint, timeout_s=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        events = [json.loads(l) for l in r.stdout.decode().splitlines()]
        f = [e for e in events if e["event"] == "file"][0]
        self.assertTrue(f["ok"])
        self.assertEqual(sha256(self.final), sha256(self.src))
        self.assertFalse(os.path.lexists(self.partial))
        return f

    def test_kill_mid_header_then_resume(self):
        self.kill_put_at(in_put_header)
        f = self.resume()
        self.assertNotIn("resumed_from", f)
        self.assertEqual(f["bytes"], SIZE)

    def test_kill_mid_body_then_resume_sends_only_the_rest(self):
        self.kill_put_at(in_put_body(CUT))
        self.assertEqual(os.path.getsize(self.partial), CUT)
        f = self.resume()
        self.assertEqual(f["resumed_from"], CUT)
        self.assertEqual(f["bytes"], SIZE - CUT)
        self.assertNotIn("restarted", f)

    def test_corrupted_partial_is_detected_and_restarted(self):
        self.kill_put_at(in_put_body(CUT))
        with open(self.partial, "r+b") as f:
            f.seek(CUT // 2)
            b = f.read(1)
            f.seek(CUT // 2)
            f.write(bytes([b[0] ^ 0xFF]))
        f = self.resume()
        self.assertTrue(f.get("restarted"))
        self.assertNotIn("resumed_from", f)
        self.assertEqual(f["bytes"], SIZE)


if __name__ == "__main__":
    unittest.main()
