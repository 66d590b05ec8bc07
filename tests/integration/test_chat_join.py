"""`sockit chat join` on pipes: --nick checked before connecting, exit statuses that say who
ended the session, and --json events from a raw (hostile) server neutralised by the client."""
import json
import socket
import subprocess
import unittest

from sockit_test import SOCKIT, LinePeer, Server, read_line, timeout


class RawServer:
    """A bare TCP listener standing in for a chat server that does not neutralise anything."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(timeout(10))
        self.endpoint = "127.0.0.1:%d" % self.listener.getsockname()[1]

    def accept(self):
        conn, _ = self.listener.accept()
        conn.settimeout(timeout(10))
        return conn

    @staticmethod
    def close_gracefully(conn):
        """Half-closes, then reads until the client closes too (so nothing unread turns the
        close into a reset that could discard what was sent)."""
        conn.shutdown(socket.SHUT_WR)
        got = b""
        for _ in range(1000):
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += chunk
        conn.close()
        return got

    def close(self):
        self.listener.close()


class Client:
    """`sockit chat join` with stdin held open (end of input would itself end the session)."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([SOCKIT, "chat", "join", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def send(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def line(self):
        return read_line(self.proc.stdout, timeout(10)).rstrip("\n")

    def until(self, needle, limit=200):
        for _ in range(limit):
            line = self.line()
            if needle in line:
                return line
        raise AssertionError(needle)

    def wait(self):
        """Waits for the exit with stdin still open; returns (status, stdout rest, stderr)."""
        # Not communicate(): it closes stdin. The output left is small (pipes hold 64 KiB).
        status = self.proc.wait(timeout=timeout(10))
        out, err = self.proc.stdout.read(), self.proc.stderr.read()
        return status, out.decode(errors="replace"), err.decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)  # also closes the pipes


class ChatJoin(unittest.TestCase):
    def client(self, *args):
        c = Client(*args)
        self.addCleanup(c.kill)
        return c

    def test_an_invalid_nick_is_a_usage_error_before_connecting(self):
        raw = RawServer()
        self.addCleanup(raw.close)
        for nick in ["two words", "evil\n/quit", "1digit", "x" * 25]:
            r = subprocess.run([SOCKIT, "chat", "join", raw.endpoint, "--nick", nick],
                               input=b"", capture_output=True, timeout=timeout(10))
            self.assertEqual(r.returncode, 2, (nick, r.stderr))
            err = r.stderr.decode()
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn("--nick", err)
            self.assertIn("nickname", err)
            self.assertEqual(r.stdout, b"")
        # No connection was made: the kernel would have queued one for accept by now.
        raw.listener.setblocking(False)
        with self.assertRaises(BlockingIOError):
            raw.listener.accept()
        r = subprocess.run([SOCKIT, "chat", "join", "no-port-here:"], input=b"",
                           capture_output=True, timeout=timeout(10))
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_turned_away_by_a_full_room_exits_1(self):
        with Server("chat", "serve", "127.0.0.1:0", "--max-clients", "1", "--quiet") as srv:
            first = LinePeer(srv)
            self.addCleanup(first.sock.close)
            first.until(b"welcome")
            c = self.client(srv.endpoint, "--nick", "late")
            self.assertIn("room is full", c.line())
            status, _, err = c.wait()
            self.assertEqual(status, 1, err)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn("the server closed the connection", err)
            self.assertIn("room is full", err)

    def test_end_of_input_and_quit_exit_0(self):
        with Server("chat", "serve", "127.0.0.1:0", "--quiet") as srv:
            r = subprocess.run([SOCKIT, "chat", "join", srv.endpoint, "--nick", "eof"],
                               input=b"hello\n", capture_output=True, timeout=timeout(10))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, b"")
            c = self.client(srv.endpoint, "--nick", "quitter")
            c.until("welcome")
            c.send("/QUIT see you")  # the server reads commands case-insensitively
            c.until("*** bye")
            status, _, err = c.wait()
            self.assertEqual(status, 0, err)
            self.assertEqual(err, "")

    def test_dropped_by_the_server_exits_1(self):
        # Idle timeout: the server ends it while the user still has input open.
        with Server("chat", "serve", "127.0.0.1:0", "--quiet", "--idle-timeout", "0.3") as srv:
            c = self.client(srv.endpoint)
            c.until("welcome")
            status, out, err = c.wait()
            self.assertIn("nothing received", out)
            self.assertEqual(status, 1, err)
            self.assertIn("the server closed the connection", err)
        # The room closing (SIGTERM) while a member is in it.
        srv = Server("chat", "serve", "127.0.0.1:0", "--quiet")
        with srv:
            c = self.client(srv.endpoint, "--nick", "stayer")
            c.until("known as stayer")
            rc, _, _ = srv.stop()
            self.assertEqual(rc, 0)
            status, _, err = c.wait()
            self.assertEqual(status, 1, err)
            self.assertIn("room is closing", err)

    def test_quit_not_answered_by_bye_exits_1(self):
        raw = RawServer()
        self.addCleanup(raw.close)
        c = self.client(raw.endpoint)
        conn = raw.accept()
        c.send("/quit")
        self.assertEqual(conn.recv(64), b"/quit\n")
        RawServer.close_gracefully(conn)
        status, _, err = c.wait()
        self.assertEqual(status, 1, err)
        self.assertIn("the server closed the connection", err)

    def test_a_refused_long_line_is_reported(self):
        with Server("chat", "serve", "127.0.0.1:0", "--quiet", "--max-line", "16") as srv:
            c = self.client(srv.endpoint, "--nick", "longwinded")
            c.until("known as longwinded")
            c.send("x" * 40)
            self.assertIn("line too long", c.until("***"))
            c.send("/quit")
            c.until("*** bye")
            self.assertEqual(c.wait()[0], 0)

    def test_json_events_from_a_hostile_server_are_neutralised(self):
        raw = RawServer()
        self.addCleanup(raw.close)
        c = self.client(raw.endpoint, "--json")
        conn = raw.accept()
        lines = [
            b"[12:00:00] <eve> clear\x1b[2Jafter",
            b"*** title\x1b]0;pwned\x07end",
            b"<eve> nul\x00byte\tand tab",
            b"<eve> bad \xff\xfe utf8 \xc3",
            b"<eve> c1 \xc2\x9b31m and rlo \xe2\x80\xaeevil",
            b"<eve> back\\slash \\o/",
            b"[12:00:01] -> *bob* psst",
            b"*eve* secret",
            b"* eve waves \x1b[5m",
            b"just a line\r",
        ]
        conn.sendall(b"\n".join(lines) + b"\n")
        got = [c.line() for _ in lines]
        RawServer.close_gracefully(conn)
        status, rest, err = c.wait()
        self.assertEqual(rest, "")
        self.assertEqual(status, 1, err)  # the server, not the user, closed
        events = [json.loads(l) for l in got]  # every line is one valid JSON object
        for line in got:
            self.assertNotIn("\\u001b", line)
            self.assertNotIn("\\u0000", line)
        F = "\ufffd"
        want = [
            {"time": "12:00:00", "event": "message", "nick": "eve", "text": "clear^[[2Jafter"},
            {"event": "notice", "text": "title^[]0;pwned^Gend"},
            {"event": "message", "nick": "eve", "text": "nul^@byte and tab"},
            {"event": "message", "nick": "eve", "text": f"bad {F}{F} utf8 {F}"},
            {"event": "message", "nick": "eve", "text": f"c1 {F}31m and rlo {F}evil"},
            {"event": "message", "nick": "eve", "text": "back\\slash \\o/"},
            {"time": "12:00:01", "event": "private_sent", "to": "bob", "text": "psst"},
            {"event": "private", "nick": "eve", "text": "secret"},
            {"event": "action", "nick": "eve", "text": "waves ^[[5m"},
            {"event": "line", "text": "just a line"},
        ]
        self.assertEqual(events, want)


if __name__ == "__main__":
    unittest.main()
