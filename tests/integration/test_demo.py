"""`sockit demo` (what `make demo` runs): every step runs for real on loopback and passes, each
prints what it showed, and the whole tour ends on its own within seconds."""
import re
import unittest

from sockit_test import run


class Demo(unittest.TestCase):
    def test_every_step_passes(self):
        r = run("demo", timeout_s=60)
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, out + r.stderr.decode(errors="replace"))
        steps = re.findall(r"^\[(\d+)/(\d+)\] (.+)$", out, re.M)
        self.assertGreaterEqual(len(steps), 9, out)
        total = int(steps[0][1])
        self.assertEqual([int(n) for n, _, _ in steps], list(range(1, total + 1)))
        self.assertEqual(len(re.findall(r"^\s+ok\s", out, re.M)), total, out)
        self.assertNotRegex(out, r"(?m)^\s+FAILED")
        self.assertIn(f"demo: all {total} steps passed", out)
        titles = " | ".join(t for _, _, t in steps)
        # The seeds' topics, each a step: echo over TCP, UDP and Unix sockets, many clients,
        # the network utilities, the chat room, sticky packets and their fix, file transfer.
        for topic in ("TCP echo", "UDP echo", "Unix-socket echo", "many clients", "subnets",
                      "chat room", "sticky packets", "length-prefixed frames", "file upload",
                      "chat room in a browser", "secure by default"):
            self.assertIn(topic, titles)
        # Results are real: the echo came back upper-cased and the file's hashes matched.
        self.assertIn("got 'HELLO, SOCKIT'", out)
        self.assertIn("an nc member heard it and answered", out)  # the browser/server step
        self.assertRegex(out, r"XXH3-128 ([0-9a-f]{32}) on both sides")


if __name__ == "__main__":
    unittest.main()
