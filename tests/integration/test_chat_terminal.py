"""`sockit chat join` in a real terminal (tmux): incoming lines never garble the line being
typed, nicks are coloured unless NO_COLOR, hostile escapes stay inert (even from a server that
does not neutralise them), backslashes show as typed, wide characters keep the cursor right,
/quit and Ctrl-D leave with status 0."""
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from sockit_test import SOCKIT, LinePeer, Server, timeout


class Tmux:
    def __init__(self, command, env_prefix="", status_file=None):
        self.server = f"sockit-test-{os.getpid()}-{id(self)}"
        self.base = ["tmux", "-L", self.server, "-f", "/dev/null"]
        if status_file:  # the client's exit status, written when it ends
            command = "sh -c " + shlex.quote(f"{command}; echo $? > {shlex.quote(status_file)}")
        subprocess.run(self.base + ["new-session", "-d", "-s", "t", "-x", "100", "-y", "20",
                                    f"exec {env_prefix} {command}"], check=True)

    def capture(self, escapes=False):
        args = self.base + ["capture-pane", "-p", "-t", "t"] + (["-e"] if escapes else [])
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"the client exited early: {r.stderr}")
        return r.stdout

    def keys(self, *keys):
        subprocess.run(self.base + ["send-keys", "-t", "t", *keys], check=True)

    def literal(self, text):
        subprocess.run(self.base + ["send-keys", "-t", "t", "-l", text], check=True)

    def wait_for(self, predicate, what, escapes=False, seconds=10):
        deadline = time.monotonic() + timeout(seconds)
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture(escapes)
            if predicate(screen):
                return screen
            time.sleep(0.05)  # polling interval, not synchronisation: the deadline bounds it
        raise AssertionError(f"timed out waiting for {what}; screen:\n{screen}")

    def cursor_x(self):
        r = subprocess.run(self.base + ["display-message", "-p", "-t", "t", "#{cursor_x}"],
                           capture_output=True, text=True)
        return int(r.stdout.strip() or -1)

    def wait_prompt(self, text, cursor=None):
        """Waits until the prompt line reads `> text` (and the cursor is at column `cursor`)."""
        want = ("> " + text).rstrip()
        self.wait_for(lambda s: last_line(s) == want and
                      (cursor is None or self.cursor_x() == cursor), f"the prompt {want!r}")

    def title(self):
        r = subprocess.run(self.base + ["display-message", "-p", "-t", "t", "#{pane_title}"],
                           capture_output=True, text=True)
        return r.stdout.strip()

    def exited(self):
        """The session ends when the client exits."""
        return subprocess.run(self.base + ["has-session", "-t", "t"],
                              capture_output=True).returncode != 0

    def close(self):
        subprocess.run(self.base + ["kill-server"], capture_output=True)


def last_line(screen):
    lines = [l for l in screen.splitlines() if l.strip()]
    return lines[-1] if lines else ""


@unittest.skipUnless(shutil.which("tmux"), "tmux not installed")
class ChatTerminal(unittest.TestCase):
    def wait_exit(self, term):
        deadline = time.monotonic() + timeout(10)
        while not term.exited():
            self.assertLess(time.monotonic(), deadline, "the client did not exit")
            time.sleep(0.05)  # polling interval, bounded by the deadline

    def status_file(self):
        d = tempfile.TemporaryDirectory(prefix="sockit-test-")
        self.addCleanup(d.cleanup)
        return os.path.join(d.name, "status")

    def status(self, term, path):
        self.wait_exit(term)
        with open(path) as f:
            return int(f.read().strip())

    def room(self, srv, nick, peer_nick=None, env="NO_COLOR=1 TERM=xterm", status_file=None):
        """A peer on a socket (renamed to peer_nick if given) and `sockit chat join --nick
        NICK` in tmux, both in the room once this returns; closed when the test ends."""
        peer = LinePeer(srv)
        self.addCleanup(peer.sock.close)
        if peer_nick:
            peer.sock.sendall(f"/nick {peer_nick}\n".encode())
            peer.until(f"known as {peer_nick}".encode())
        cmd = f"{shlex.quote(SOCKIT)} chat join {srv.endpoint} --nick {nick}"
        term = Tmux(cmd, env_prefix=f"env {env}", status_file=status_file)
        self.addCleanup(term.close)
        term.wait_for(lambda s: "welcome to #lobby" in s, "the welcome")
        peer.until(f"known as {nick}".encode())
        return peer, term

    def test_typing_is_not_garbled_and_nicks_are_coloured(self):
        with Server("chat", "serve", "127.0.0.1:0", "--quiet") as srv:
            status_file = self.status_file()
            peer, term = self.room(srv, "tty", peer_nick="pat", env="-u NO_COLOR TERM=xterm",
                                   status_file=status_file)
            term.literal("hello wor")
            term.wait_for(lambda s: last_line(s) == "> hello wor", "the typed text")
            # Lines arrive while we type: they appear above, the prompt line survives.
            for i in range(3):
                peer.sock.sendall(b"incoming %d\n" % i)
            screen = term.wait_for(lambda s: "<pat> incoming 2" in s, "incoming lines")
            self.assertEqual(last_line(screen), "> hello wor")
            for i in range(3):
                self.assertRegex(screen, rf"\[\d\d:\d\d:\d\d\] <pat> incoming {i}\n")
            self.assertNotIn("hello wor<", screen)
            # Hostile bytes from a peer stay visible text, never terminal commands.
            peer.sock.sendall(b"\x1b[2J\x1b[31mevil\n")
            screen = term.wait_for(lambda s: "evil" in s, "the hostile line")
            self.assertIn("<pat> ^[[2J^[[31mevil", screen)
            self.assertIn("<pat> incoming 0", screen)  # the screen was not cleared
            # Finishing the line sends exactly what was typed.
            term.literal("ld")
            term.keys("Enter")
            self.assertIn("<tty> hello world", peer.until(b"hello world"))
            screen = term.wait_for(lambda s: last_line(s) == ">", "an empty prompt")
            # Nicks are coloured (SGR around the nick) when NO_COLOR is unset.
            coloured = term.capture(escapes=True)
            self.assertRegex(coloured, r"\x1b\[3\dm<pat>")
            # Backspace edits; /quit leaves the room.
            term.literal("typo")
            term.keys("BSpace", "BSpace", "BSpace", "BSpace")
            term.literal("/quit")
            term.keys("Enter")
            self.assertIn("tty left (quit)", peer.until(b"tty left"))
            self.assertEqual(self.status(term, status_file), 0)

    def test_cursor_keys_and_history(self):
        with Server("chat", "serve", "127.0.0.1:0", "--quiet") as srv:
            peer, term = self.room(srv, "ed", peer_nick="pat")
            # Left/Right move the cursor; typing inserts at it.
            term.literal("hello")
            term.wait_prompt("hello", cursor=7)
            term.keys("Left", "Left", "Left", "Right")
            term.wait_prompt("hello", cursor=5)
            term.literal("X")
            term.wait_prompt("helXlo", cursor=6)
            # A line arriving mid-edit keeps both the text and the cursor where they were.
            peer.sock.sendall(b"ping while editing\n")
            screen = term.wait_for(lambda s: "<pat> ping while editing" in s, "the line")
            self.assertEqual(last_line(screen), "> helXlo")
            term.wait_prompt("helXlo", cursor=6)
            # Home/End, Delete and Backspace in the middle, multi-byte text.
            term.keys("Home")
            term.wait_prompt("helXlo", cursor=2)
            term.literal("A\u00e9")
            term.wait_prompt("A\u00e9helXlo", cursor=4)
            term.keys("DC", "End")
            term.literal("Z")
            term.wait_prompt("A\u00e9elXloZ", cursor=10)
            term.keys("Left", "BSpace")
            term.wait_prompt("A\u00e9elXlZ", cursor=8)
            term.keys("Enter")
            self.assertEqual(peer.until(b"elXlZ").split("] ", 1)[1], "<ed> A\u00e9elXlZ")
            term.literal("second")
            term.keys("Enter")
            peer.until(b"<ed> second")
            term.wait_prompt("", cursor=2)
            # Up/Down walk the lines sent; Down past the newest restores the draft.
            term.literal("dr")
            term.keys("Up")
            term.wait_prompt("second", cursor=8)
            term.keys("Up")
            term.wait_prompt("A\u00e9elXlZ", cursor=9)
            term.keys("Up")  # the oldest stays
            term.wait_prompt("A\u00e9elXlZ", cursor=9)
            term.keys("Down")
            term.wait_prompt("second")
            term.keys("Down")
            term.wait_prompt("dr", cursor=4)
            # Editing a recalled line sends the edit and leaves the history entry alone.
            term.keys("C-u", "Up", "BSpace")
            term.wait_prompt("secon")
            term.keys("Enter")
            peer.until(b"<ed> secon")
            term.keys("Up")
            term.wait_prompt("secon")
            term.keys("Up")
            term.wait_prompt("second")
            term.keys("Enter")
            self.assertIn("<ed> second", peer.until(b"<ed> second"))
            # Commands are history too: Up recalls /quit, Enter leaves.
            term.literal("/quit")
            term.keys("Enter")
            self.assertIn("ed left (quit)", peer.until(b"ed left"))
            self.wait_exit(term)

    def test_a_long_line_scrolls_and_keeps_the_cursor_visible(self):
        with Server("chat", "serve", "127.0.0.1:0", "--quiet") as srv:
            peer, term = self.room(srv, "wide")
            text = "".join(chr(ord("a") + i % 26) for i in range(150))
            term.literal(text)
            # 100 columns: "> " and 97 characters, the tail, the cursor after it.
            term.wait_prompt(text[-97:], cursor=99)
            term.keys("Home")
            term.wait_prompt(text[:97], cursor=2)
            term.keys("Enter")
            self.assertIn(text, peer.until(text[:20].encode()))
            term.keys("C-d")
            self.wait_exit(term)

    def test_no_color(self):
        with Server("chat", "serve", "127.0.0.1:0", "--quiet") as srv:
            status_file = self.status_file()
            peer, term = self.room(srv, "plain", status_file=status_file)
            peer.sock.sendall(b"uncoloured\n")
            screen = term.wait_for(lambda s: "uncoloured" in s, "the line", escapes=True)
            line = next(l for l in screen.splitlines() if "uncoloured" in l)
            self.assertNotIn("\x1b", line)
            term.keys("C-d")  # end of input on an empty line leaves
            self.assertIn("plain left", peer.until(b"plain left"))
            self.assertEqual(self.status(term, status_file), 0)

    def test_backslashes_show_as_typed(self):
        with Server("chat", "serve", "127.0.0.1:0", "--quiet") as srv:
            peer, term = self.room(srv, "bs", peer_nick="pat")
            term.literal("a\\b \\o/")
            term.wait_prompt("a\\b \\o/")
            term.keys("Enter")
            self.assertTrue(peer.until(b"<bs>").endswith("<bs> a\\b \\o/"))
            peer.sock.sendall(b"x\\y\n")
            screen = term.wait_for(lambda s: "<pat> x" in s, "the peer's line")
            mine = [l for l in screen.splitlines() if "<bs>" in l]
            theirs = [l for l in screen.splitlines() if "<pat>" in l]
            self.assertEqual(len(mine), 1, screen)
            self.assertTrue(mine[0].endswith("<bs> a\\b \\o/"), screen)
            self.assertEqual(len(theirs), 1, screen)
            self.assertTrue(theirs[0].endswith("<pat> x\\y"), screen)
            self.assertNotIn("\\\\", screen)
            term.keys("C-d")
            self.wait_exit(term)

    def test_a_hostile_server_cannot_drive_the_terminal(self):
        # A raw server that neutralises nothing: the client alone must keep escapes inert.
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(timeout(10))
        endpoint = "127.0.0.1:%d" % listener.getsockname()[1]
        status_file = self.status_file()
        cmd = f"{shlex.quote(SOCKIT)} chat join {endpoint}"
        term = Tmux(cmd, env_prefix="env NO_COLOR=1 TERM=xterm", status_file=status_file)
        try:
            conn, _ = listener.accept()
            self.addCleanup(conn.close)
            conn.settimeout(timeout(10))
            conn.sendall(b"*** before\n")
            term.wait_for(lambda s: "*** before" in s, "the first line")
            title = term.title()
            conn.sendall(b"<eve> clear\x1b[2J\x1b[Hhome\n"
                         b"<eve> title\x1b]0;pwned\x07end\n"
                         b"<eve> nul\x00bad\xff\xc3 8bit\xc2\x9b2J\n"
                         b"<eve> last\n")
            screen = term.wait_for(lambda s: "<eve> last" in s, "the hostile lines")
            self.assertIn("*** before", screen)  # not cleared
            self.assertIn("<eve> clear^[[2J^[[Hhome", screen)
            self.assertIn("<eve> title^[]0;pwned^Gend", screen)
            self.assertIn("<eve> nul^@bad\ufffd\ufffd 8bit\ufffd2J", screen)
            self.assertEqual(term.title(), title)
            self.assertNotIn("pwned", term.title())
            self.assertEqual(last_line(screen), ">")
            # The server hangs up on its own: status 1.
            conn.shutdown(socket.SHUT_WR)
            self.assertEqual(conn.recv(64), b"")
            self.assertEqual(self.status(term, status_file), 1)
        finally:
            term.close()

    def test_wide_characters_keep_the_cursor_in_place(self):
        with Server("chat", "serve", "127.0.0.1:0", "--quiet") as srv:
            peer, term = self.room(srv, "cjk", env="NO_COLOR=1 TERM=xterm LANG=C.UTF-8")
            # Each CJK character takes two columns: "> ab" 4, "中文" 4, "cd" 2.
            term.literal("ab\u4e2d\u6587cd")
            term.wait_prompt("ab\u4e2d\u6587cd", cursor=10)
            term.keys("Left", "Left")
            term.wait_prompt("ab\u4e2d\u6587cd", cursor=8)
            term.literal("X")
            term.wait_prompt("ab\u4e2d\u6587Xcd", cursor=9)
            term.keys("Left", "Left", "Left")
            term.wait_prompt("ab\u4e2d\u6587Xcd", cursor=4)
            term.keys("Enter")
            self.assertTrue(peer.until(b"<cjk>").endswith("<cjk> ab\u4e2d\u6587Xcd"))
            # A line wider than the screen: 60 wide characters are 120 columns; the view
            # holds the 48 (96 columns) that fit in 97 and never wraps.
            wide = "".join(chr(0x4e00 + i) for i in range(60))
            term.literal(wide)
            term.wait_prompt(wide[-48:], cursor=98)
            term.keys("Home")
            term.wait_prompt(wide[:48], cursor=2)
            term.keys("Enter")
            self.assertTrue(peer.until(b"<cjk>").endswith(wide))
            term.keys("C-d")
            self.wait_exit(term)


if __name__ == "__main__":
    unittest.main()
