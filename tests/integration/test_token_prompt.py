"""The token asked on a terminal (docs/SECURITY.md "Tokens on a terminal"): a client run on a
pseudo-terminal, as a person would run it, is asked without echo; Ctrl-C at the question
leaves the terminal as it was."""
import os
import pty
import select
import signal
import subprocess
import termios
import time
import unittest
import fcntl

from sockit_test import SOCKIT, TempDir, timeout
from test_tls import TlsServer


def on_terminal(*args):
    """Starts sockit with a new pseudo-terminal as its controlling terminal and stdio."""
    master, slave = pty.openpty()
    env = dict(os.environ)
    env.pop("SOCKIT_TOKEN", None)

    def become_session_leader():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen([SOCKIT, *args], stdin=slave, stdout=slave, stderr=slave, env=env,
                         preexec_fn=become_session_leader)
    return p, master, slave


def read_until(master, needle, deadline_s):
    out = b""
    end = time.monotonic() + timeout(deadline_s)
    while needle not in out:
        left = end - time.monotonic()
        if left <= 0 or not select.select([master], [], [], left)[0]:
            raise AssertionError(f"{needle!r} not seen; got {out!r}")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    return out


def read_rest(master, p):
    out = b""
    p.wait(timeout=timeout(20))
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


class TokenPrompt(unittest.TestCase):
    def test_the_token_typed_at_the_question_is_not_echoed_and_works(self):
        with TempDir() as d, TlsServer(d) as s:
            with open(os.path.join(d, "here.txt"), "w") as f:
                f.write("x")
            p, master, slave = on_terminal("ls", "--pin", s.srv.identity, s.srv.endpoint)
            try:
                read_until(master, b"Token for", 10)
                os.write(master, s.token.encode() + b"\n")
                out = read_rest(master, p)
                self.assertEqual(p.returncode, 0, out)
                self.assertIn(b"here.txt", out)
                self.assertNotIn(s.token.encode(), out)  # never echoed
            finally:
                if p.poll() is None:
                    p.kill()
                os.close(master)
                os.close(slave)

    def test_ctrl_c_at_the_question_restores_the_echo(self):
        with TempDir() as d, TlsServer(d) as s:
            p, master, slave = on_terminal("ls", "--pin", s.srv.identity, s.srv.endpoint)
            try:
                read_until(master, b"Token for", 10)
                self.assertFalse(termios.tcgetattr(slave)[3] & termios.ECHO)  # off while asked
                os.write(master, b"abc\x03")
                read_rest(master, p)
                self.assertEqual(p.returncode, -signal.SIGINT)
                self.assertTrue(termios.tcgetattr(slave)[3] & termios.ECHO)
            finally:
                if p.poll() is None:
                    p.kill()
                os.close(master)
                os.close(slave)


if __name__ == "__main__":
    unittest.main()
